"""The preview's inbox line shows a personal subject as a subscriber sees it (sample values filled)."""

from __future__ import annotations

from starlette.testclient import TestClient

from newsletter.review.preview import create_preview_app


def test_a_personal_subject_is_previewed_with_sample_values(write_issue, settings):
    issue = write_issue("Hi %%first_name%%.\n", 'title: "News"\nsubject: "%%first_name%%, <b>news</b> for you"\n'
                        "preheader: p")
    with TestClient(create_preview_app(issue, settings, watch=False)) as client:
        html = client.get("/").text
    assert 'id="subject">Alex, &lt;b&gt;news&lt;/b&gt; for you<' in html
    assert "%%first_name%%" not in html.split("<iframe", 1)[0]
