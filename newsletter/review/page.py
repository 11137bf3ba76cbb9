"""The HTML of the preview page (a Jinja2 template, autoescaped)."""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Preview · {{ title }}</title>
<style>
  :root { color-scheme: light dark; --line: #8884; --muted: #777; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; padding: 16px 24px 48px; }
  header { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: baseline; }
  h1 { font-size: 18px; margin: 0; }
  h2 { font-size: 15px; margin: 28px 0 8px; }
  .status { color: var(--muted); }
  .switch a { padding: 4px 12px; border: 1px solid var(--line); border-radius: 14px; text-decoration: none; color: inherit; }
  .switch a.on { background: #2563eb; border-color: #2563eb; color: #fff; }
  .error { border: 2px solid #d33; background: #d331; padding: 8px 12px; border-radius: 6px; margin-top: 16px; }
  .error pre { white-space: pre-wrap; margin: 4px 0 0; }
  .inbox { display: flex; gap: 12px; max-width: 820px; padding: 10px 12px; border: 1px solid var(--line); border-radius: 6px; white-space: nowrap; overflow: hidden; }
  .inbox .from { font-weight: 600; min-width: 10em; overflow: hidden; text-overflow: ellipsis; }
  .inbox .line { overflow: hidden; text-overflow: ellipsis; }
  .inbox .subject { font-weight: 600; }
  .inbox .preheader { color: var(--muted); }
  .frames { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
  figure { margin: 0; }
  figcaption { color: var(--muted); margin-bottom: 4px; }
  iframe { border: 1px solid var(--line); border-radius: 4px; height: 900px; background: Canvas; display: block; }
  ul.findings { padding-left: 20px; margin: 0; }
  .sev-error { color: #d33; font-weight: 600; }
  .sev-warning { color: #b7791f; font-weight: 600; }
  pre.text { white-space: pre-wrap; max-width: 80ch; border: 1px solid var(--line); padding: 12px; border-radius: 6px; }
</style>
</head>
<body data-version="{{ version }}">
<header>
  <h1>{{ title }}</h1>
  <span class="status" id="status">{{ status }}</span>
  <nav class="switch" aria-label="Colour scheme">
    <a href="?scheme=light" class="{{ 'on' if scheme == 'light' else '' }}" id="scheme-light">Light</a>
    <a href="?scheme=dark" class="{{ 'on' if scheme == 'dark' else '' }}" id="scheme-dark">Dark</a>
  </nav>
</header>
{% if error %}
<section class="error" id="error">
  <strong>The issue did not build.</strong>{% if result %} Showing the last good build below.{% endif %}
  <pre>{{ error }}</pre>
</section>
{% endif %}
{% if result %}
<h2>Inbox</h2>
<div class="inbox" id="inbox">
  <span class="from">{{ sender }}</span>
  <span class="line"><span class="subject" id="subject">{{ subject }}</span>
  <span class="preheader" id="preheader">– {{ result.issue.preheader }}</span></span>
</div>
<h2>Checks</h2>
{% if result.findings %}
<ul class="findings" id="findings">
  {% for f in result.findings %}
  <li><span class="sev-{{ f.severity }}">{{ f.severity }}</span> {{ f.message }}
    {% if f.where %}<span class="status">({{ f.where }})</span>{% endif %} <code>{{ f.code }}</code></li>
  {% endfor %}
</ul>
{% else %}
<p id="findings">No problems found.</p>
{% endif %}
<h2>Email ({{ scheme }})</h2>
<div class="frames">
  {% for width, label in frames %}
  <figure>
    <figcaption>{{ label }} · {{ width }} px</figcaption>
    {# No scripts in the email, as in mail clients; same origin so the page can size the frame. #}
    <iframe title="{{ label }} {{ width }} px" width="{{ width }}" style="width: {{ width }}px"
            sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"
            src="email.html?scheme={{ scheme }}&amp;v={{ version }}"></iframe>
  </figure>
  {% endfor %}
</div>
<h2>Plain text</h2>
<pre class="text" id="text">{{ text }}</pre>
{% endif %}
<script>
  // Fit each frame to its email, and come back to the same scroll position after a reload.
  for (const frame of document.querySelectorAll("iframe")) {
    frame.addEventListener("load", () => {
      try { frame.style.height = (frame.contentDocument.documentElement.scrollHeight + 4) + "px"; } catch (e) {}
    });
  }
  const saved = sessionStorage.getItem("preview-scroll");
  if (saved) { sessionStorage.removeItem("preview-scroll"); window.addEventListener("load", () => scrollTo(0, +saved)); }
  // Reload when the server has built a new version (polling survives server restarts).
  const version = document.body.dataset.version;
  const status = document.getElementById("status");
  async function poll() {
    try {
      const answer = await (await fetch("version", {cache: "no-store"})).json();
      if (String(answer.version) !== version) {
        sessionStorage.setItem("preview-scroll", String(scrollY));
        location.reload();
        return;
      }
      status.textContent = {{ status|tojson }};
    } catch (e) {
      status.textContent = "Preview server not reachable; retrying…";
    }
    setTimeout(poll, {{ poll_ms }});
  }
  setTimeout(poll, {{ poll_ms }});
</script>
</body>
</html>
"""
