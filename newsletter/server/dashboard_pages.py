"""The dashboard's HTML: the sends, one send, the lists, and the sign-in form.

Plain functions from figures (``tracking.report``) to a whole page as text, used by the server's
routes and by ``newsletter stats --html``. Pages run no script and load nothing: the charts are
inline SVG and the one stylesheet is inline, allowed by its hash in ``CSP``. Every value that
comes from the database is escaped here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html import escape

from newsletter.server import dashboard_svg as svg
from newsletter.tracking.report import ListReport, SendReport, SendSummary

STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#111827;background:#f9fafb;"
    "line-height:1.45}"
    "header{background:#111827;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;"
    "align-items:center}"
    "header a{color:#fff}header form{margin:0 0 0 auto}"
    "main{max-width:72rem;margin:0 auto;padding:1rem}"
    "h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 1rem;overflow-wrap:anywhere}h2{font-size:1.15rem;margin:1.6rem 0 .6rem}"
    "section{background:#fff;border:1px solid #e5e7eb;border-radius:.4rem;padding:.8rem 1rem;margin:0 0 1rem}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.6rem;margin:0 0 1rem}"
    ".card{background:#fff;border:1px solid #e5e7eb;border-radius:.4rem;padding:.6rem .8rem}"
    ".card b{display:block;font-size:1.4rem}.card span{color:#4b5563;font-size:.9rem}"
    ".chart{display:block;width:100%;height:auto;max-width:52rem}.chart[data-chart=funnel],"
    ".chart[data-chart=providers]{max-width:34rem}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table{border-collapse:collapse;width:100%;font-size:.92rem}"
    "th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".url{overflow-wrap:anywhere;word-break:break-all}"
    ".status{font-weight:600}.status-sending{color:#c2410c}.status-done{color:#047857}.status-partial{color:#b91c1c}"
    ".status-testing{color:#6d28d9}"
    ".note{color:#4b5563;font-size:.9rem}"
    "label{display:block;margin:.8rem 0 .2rem;font-weight:600}"
    "input{box-sizing:border-box;width:100%;max-width:24rem;font-size:1rem;padding:.55rem;border:1px solid #6b7280;"
    "border-radius:.3rem}"
    "button{font-size:1rem;padding:.55rem 1.1rem;border:0;border-radius:.3rem;background:#1a56db;color:#fff;"
    "cursor:pointer;margin-top:1rem}"
    "header button{margin:0;background:#374151;padding:.3rem .7rem}"
    "input:focus,button:focus,a:focus{outline:3px solid #f59e0b;outline-offset:2px}"
    ".error{color:#b91c1c;font-weight:600}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
#: The dashboard's Content-Security-Policy, inside the page too (so a saved report keeps it):
#: nothing but this stylesheet, forms posting here only.
META_CSP = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; base-uri 'none'"
#: The header adds what a <meta> policy cannot say: no framing.
CSP = META_CSP + "; frame-ancestors 'none'"


def page(title: str, body: str, *, brand: str = "", signed_in: str | None = None, refresh_s: int | None = None) -> str:
    """A whole dashboard page; ``body`` must be escaped already. ``signed_in``: the user's name (shows the
    navigation and sign-out); ``refresh_s``: reload every so many seconds (a send is running)."""
    head = ['<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="robots" content="noindex">',
            f'<meta http-equiv="Content-Security-Policy" content="{escape(META_CSP)}">']
    if refresh_s:
        head.append(f'<meta http-equiv="refresh" content="{int(refresh_s)}">')
    head.append(f"<title>{escape(title)}{' - ' + escape(brand) if brand else ''}</title><style>{STYLE}</style></head>")
    nav = ""
    if signed_in is not None:
        nav = ('<header><strong>Dashboard</strong><a href="/admin">Sends</a><a href="/admin/lists">Lists</a>'
               f'<form method="post" action="/admin/signout"><span>{escape(signed_in)}</span> '
               '<button type="submit">Sign out</button></form></header>')
    return "".join(head) + f"<body>{nav}<main><h1>{escape(title)}</h1>{body}</main></body></html>\n"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table in a horizontally scrolling box (the page itself never scrolls sideways); cells escaped already."""
    head = "".join(f'<th scope="col"{" class=n" if i in numeric else ""}>{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{cell}</td>' for i, cell in enumerate(row))
                   + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _status(s: SendSummary) -> str:
    return f'<span class="status status-{escape(s.status)}">{escape(s.status)}</span>'


def sends_body(summaries: Sequence[SendSummary]) -> str:
    """The sends page's content: one row per send, status and counts from the ledger."""
    if not summaries:
        return "<p>No sends yet.</p>"
    rows = [[f'<a href="/admin/sends/{s.send_id}">{escape(s.slug)}</a>', escape(s.list_name), _status(s),
             f"{s.recipients:,}", f"{s.accepted:,}", f"{s.in_doubt:,}", f"{s.failed:,}", f"{s.pending + s.in_flight:,}",
             escape(s.created_at[:16].replace("T", " "))] for s in summaries]
    note = ('<p class="note">A send still running refreshes this page every 5 seconds. "In doubt": the provider may or'
            " may not have taken the message (a run stopped mid-batch); the next run settles it.</p>")
    return _table(["Issue", "List", "Status", "Recipients", "Accepted", "In doubt", "Failed", "Pending", "Created (UTC)"],
                  rows, numeric=(3, 4, 5, 6, 7)) + note


def _subject_test(test: dict) -> str:
    """The subject test's section: each variant's subject and figures, and the decision or when it comes."""
    rows = []
    for variant, subject in test["variants"].items():
        c = test["counts"].get(variant, {})
        won = " (winner)" if variant == test["winner"] else ""
        rows.append([escape(variant + won), escape(subject), f"{c.get('recipients', 0):,}", f"{c.get('accepted', 0):,}",
                     f"{c.get('opens', 0):,}", f"{c.get('clicks', 0):,}"])
    if test["winner"] is not None:
        confidence = "" if test["confidence"] is None else f", {test['confidence']:.0%} sure it is the best"
        decision = (f"Decided: {escape(test['winner'])} by {escape(test['decided_by'] or 'a worker')} at "
                    f"{escape(test['decided_at'])} (UTC){escape(confidence)}.")
    elif test["pick"] == "manual":
        decision = "Waiting for <code>newsletter pick</code>."
    else:
        decision = f"A worker picks the variant with the most human {escape(test['pick'])} at {escape(test['decide_at'])} (UTC); ties go to A."
    return (f'<section data-section="subject-test"><h2>Subject test</h2><p class="note">{int(test["share"])}% of the '
            f"audience drawn at random. {decision}</p>"
            + _table(["Variant", "Subject", "Recipients", "Accepted", "Human opens", "Human clicks"], rows,
                     numeric=(2, 3, 4, 5)) + "</section>")


def send_body(report: SendReport) -> str:
    """The send page's content: headline figures, funnel, hours, links, domains, providers."""
    s, st = report.summary, report.stats
    cards = [("Recipients", f"{s.recipients:,}"), ("Accepted", f"{s.accepted:,}"), ("In doubt", f"{s.in_doubt:,}"),
             ("Human opens", f"{st.human_opens:,} ({_percent(st.open_rate)})"),
             ("Human clicks", f"{st.human_clicks:,} ({_percent(st.click_rate)})"),
             ("Machine opens", f"{st.machine_opens:,}"), ("Machine clicks", f"{st.machine_clicks:,}")]
    if st.delivered:
        cards.insert(2, ("Delivered", f"{st.delivered:,}"))
    parts = [f'<p>{escape(st.subject)} &middot; list {escape(s.list_name)} &middot; {escape(s.backend)} &middot; '
             f"{_status(s)}</p>",
             '<div class="cards">' + "".join(f'<div class="card" data-card="{escape(label)}"><span>{escape(label)}'
                                             f"</span><b>{value}</b></div>" for label, value in cards) + "</div>",
             f'<p class="note">Rates of {escape(st.rate_base)} messages. {escape(st.open_rate_note)}</p>']
    if report.subject_test is not None:
        parts.append(_subject_test(report.subject_test))
    parts.append("<section><h2>Funnel</h2>" + svg.bars("funnel", "From recipients to clicks", report.funnel)
                 + "</section>")
    labels = [f"{h.hour}h" for h in report.hours]
    parts.append(f"<section><h2>Opens and clicks per hour</h2><p class=\"note\">The first {len(report.hours)} hours"
                 f" from {escape(report.started_at.replace('T', ' '))} (UTC); human ones, machine ones apart.</p>"
                 + svg.columns("hours", "Human opens and clicks per hour",
                               labels, [("Human opens", [h.human_opens for h in report.hours]),
                                        ("Human clicks", [h.human_clicks for h in report.hours])], tick_every=12)
                 + svg.columns("machine-hours", "Machine opens and clicks per hour",
                               labels, [("Machine opens", [h.machine_opens for h in report.hours]),
                                        ("Machine clicks", [h.machine_clicks for h in report.hours])], tick_every=12)
                 + "</section>")
    links = [[f'<span class="url">{escape(link.url)}</span>', f"{link.clicks:,}", f"{link.unique_clicks:,}"]
             for link in st.top_links]
    parts.append("<section><h2>Top links</h2>" + (_table(["Link", "Clicks", "People"], links, numeric=(1, 2))
                                                  if links else "<p>No clicks yet.</p>") + "</section>")
    domains = [[escape(d.domain), f"{d.recipients:,}", f"{d.bounced:,}", f"{d.complaints:,}"] for d in report.domains]
    parts.append("<section><h2>Bounces and complaints by receiving domain</h2>"
                 + (_table(["Domain", "Recipients", "Bounces", "Complaints"], domains, numeric=(1, 2, 3))
                    if domains else "<p>None.</p>") + "</section>")
    providers = report.providers
    parts.append("<section><h2>Results by mailbox provider</h2>"
                 + svg.bars("providers", "Human open rate by mailbox provider",
                            [(p.provider, round((p.open_rate or 0) * 100, 1)) for p in providers], unit="%")
                 + _table(["Provider", "Recipients", "Accepted", "Delivered", "Bounces", "Human opens", "Open rate",
                           "Human clicks", "Machine opens", "Unsubscribes", "Complaints"],
                          [[escape(p.provider), f"{p.recipients:,}", f"{p.accepted:,}", f"{p.delivered:,}",
                            f"{p.bounced:,}", f"{p.human_opens:,}", _percent(p.open_rate), f"{p.human_clicks:,}",
                            f"{p.machine_opens:,}", f"{p.unsubscribes:,}", f"{p.complaints:,}"] for p in providers],
                          numeric=tuple(range(1, 11)))
                 + '<p class="note">By the recipients\' domains (a company domain hosted by one of them counts under'
                   " Others).</p></section>")
    return "".join(parts)


def lists_body(reports: Sequence[ListReport]) -> str:
    """The lists page's content: members over time and joins and leaves per week, per list."""
    if not reports:
        return "<p>No lists yet.</p>"
    parts = []
    for r in reports:
        labels = [monday[5:] for monday in (w[0] for w in r.weeks)]
        parts.append(
            f'<section data-list="{escape(r.name)}"><h2>{escape(r.title or r.name)}</h2>'
            f'<p>{r.members:,} members, {r.pending:,} waiting for confirmation.</p>'
            + svg.line(f"members-{r.name}", f"Members of {r.name}, week by week", labels, [w[3] for w in r.weeks],
                       tick_every=4)
            + svg.columns(f"moves-{r.name}", f"Joins and leaves of {r.name} per week", labels,
                          [("Joined", [w[1] for w in r.weeks]), ("Left", [w[2] for w in r.weeks])], tick_every=4)
            + "</section>")
    return "".join(parts)


def signin_body(*, named_users: bool, error: str = "", next_path: str = "/admin") -> str:
    """The sign-in form (a user name is asked only when named users are configured)."""
    name = ('<label for="name">Name</label><input id="name" name="name" autocomplete="username" required>'
            if named_users else "")
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (f'{message}<form method="post" action="/admin/signin"><input type="hidden" name="next"'
            f' value="{escape(next_path)}">{name}<label for="password">Password or admin token</label>'
            '<input id="password" name="password" type="password" autocomplete="current-password" required>'
            '<button type="submit">Sign in</button></form>')


def report_file(reports: Sequence[SendReport], *, brand: str = "") -> str:
    """One self-contained HTML file with the send page of each of an issue's sends (``stats --html``):
    charts inline, nothing to load, the same strict policy in a <meta> element."""
    first = reports[0].summary
    sections = "".join(f"<h2>{escape(r.summary.slug)} to {escape(r.summary.list_name)} (send {r.summary.send_id})</h2>"
                       + send_body(r) for r in reports)
    return page(f"Report: {first.slug}", sections, brand=brand)
