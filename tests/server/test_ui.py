"""The web console in a real browser: headless Chromium (Debian's), driven by Playwright,
against ``usina server`` seeded by ``usina demo``.

One demo run, one server (authentication on) and one browser serve every test of the module.
Each page is opened logged in and must load without a console error; its screenshot is
written to ``build/ui-screenshots/``, or to ``docs/images/ui/`` (shown in ``docs/ui.md``) with
``USINA_UI_SCREENSHOTS=docs/images/ui``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.requirements import services_required
from resources.servers import ThreadServer
from resources.waiting import wait_until

ROOT = Path(__file__).parents[2]
# build/ui-screenshots (ignored by git) unless USINA_UI_SCREENSHOTS names another folder:
# `USINA_UI_SCREENSHOTS=docs/images/ui make test` refreshes the ones docs/ui.md shows, and a
# plain `make test` leaves the working tree as it was.
SHOTS = ROOT / os.environ.get("USINA_UI_SCREENSHOTS", "build/ui-screenshots")
CHROMIUM = os.environ.get("USINA_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "a-long-enough-password"
MODEL = "credit-risk"
POLICY = "credit-loop"  # the demo's closed loop, on the model of the same name


def _require_browser() -> Any:
    """Playwright's sync API and Debian's Chromium; skip (fail in CI) without either."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problem = f"playwright is not importable ({exc}); pip install -e '.[dev]'"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing; run 'make browser' (apt-get install chromium)"
    if problem is not None:
        if services_required():
            pytest.fail(f"{problem} (USINA_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(problem)
    return sync_playwright


@dataclass
class Console:
    url: str
    db_url: str
    artifacts: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home seeded by ``usina demo`` (the smallest data it takes), run once."""
    _require_browser()
    home = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "USINA_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    for name in ("USINA_URL", "USINA_DB_URL", "USINA_ARTIFACTS", "USINA_TOKEN", "USINA_AUTH"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "usina", "demo", "--rows", "1000"],
        cwd=home,
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]
    return home


@pytest.fixture(scope="module")
def console(demo_home: Path) -> Iterator[Console]:
    """``usina server`` with authentication on over the demo's home, and three users."""
    from usina.identity import SqlIdentityStore
    from usina.server import ServerConfig, create_app
    from usina.store import Database

    db_url = f"sqlite:///{demo_home / 'usina.db'}"
    artifacts = str(demo_home / "artifacts")
    db = Database(db_url)
    store = SqlIdentityStore(db, "test")
    tokens = {}
    for name, role in (("alice", "ml-engineer"), ("victor", "viewer"), ("ada", "admin")):
        store.create_principal("user", name, password=PASSWORD)
        store.bind(f"user:{name}", role)
        tokens[name] = store.issue_token(f"user:{name}", 3600).secret
    db.dispose()
    app = create_app(ServerConfig(db_url=db_url, artifacts=artifacts, auth=True, serving=None))
    with ThreadServer(app) as url:
        yield Console(url, db_url, artifacts, tokens)


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[Any]:
    sync_playwright = _require_browser()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def _login(browser: Any, console: Console, user: str, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{console.url}/ui/login")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{console.url}/ui")
    return page


def _api(console: Console, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=console.url, headers={"authorization": f"Bearer {console.tokens[user]}"}
    )


def _first_link(page: Any, prefix: str) -> str:
    href = page.locator(f'a[href^="{prefix}"]').first.get_attribute("href")
    assert href, f"no link to {prefix} on {page.url}"
    return str(href)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The top of the page, up to 1,600 px: what a visitor sees first, and a small file.
    viewport = page.viewport_size
    height = min(int(page.evaluate("document.documentElement.scrollHeight")), 1600)
    clip = {"x": 0, "y": 0, "width": viewport["width"], "height": height}
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, clip=clip)


def test_rollback_button_moves_the_alias_and_history_shows_it(
    browser: Any, console: Console
) -> None:
    # The demo's two candidates register in the order they finish, and the baseline stays
    # champion unless the challenger wins: champion may be either version. Move it to the
    # other one, so the rollback has somewhere to go back to.
    alias = f"/api/v1/models/{MODEL}/aliases/champion"
    with _api(console, "alice") as api:
        before = api.get(alias)
        assert before.status_code == 200, before.text
        current = before.json()["version"]
        other = 1 if current != 1 else 2
        moved = api.put(alias, json={"version": other, "reason": f"try v{other}"})
        assert moved.status_code == 200, moved.text
    page = _login(browser, console, "alice")
    page.goto(f"{console.url}/ui/models/{MODEL}")
    row = page.locator('#aliases tr[data-alias="champion"]')
    assert row.locator(".alias-version").inner_text() == f"v{other}"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Reason for rolling back champion").fill(f"v{other} misbehaves")
    with page.expect_response(lambda r: r.url.endswith("/rollback")) as sent:
        page.get_by_role("button", name="Roll back champion").click()
    assert sent.value.status == 303, sent.value.text()
    page.wait_for_selector("#moved")
    assert row.locator(".alias-version").inner_text() == f"v{current}"
    newest = page.locator("#alias-history tbody tr").first
    assert newest.locator(".action").inner_text() == "rollback"
    assert f"v{other} misbehaves" in newest.inner_text()
    assert "alice" in newest.inner_text()
    page.context.close()


def test_each_page_loads_without_console_errors(browser: Any, console: Console) -> None:
    page = _login(browser, console, "ada")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{console.url}/ui/experiments")
    experiment = _first_link(page, "/ui/experiments/")
    page.goto(f"{console.url}/ui/pipeline-runs")
    # The oldest run: the training pipeline, two candidates trained side by side.
    pipeline_run = page.locator('a[href^="/ui/pipeline-runs/"]').last.get_attribute("href")
    pages = {
        "overview": "/ui",
        "models": "/ui/models",
        "model": f"/ui/models/{MODEL}",
        "endpoints": "/ui/endpoints",
        "endpoint": "/ui/endpoints/credit",
        "experiments": "/ui/experiments",
        "experiment": experiment,
        "pipeline-runs": "/ui/pipeline-runs",
        "pipeline-run": str(pipeline_run),
        "monitors": "/ui/monitors",
        "monitor": "/ui/monitors/credit-watch",
        "monitor-report": "/ui/monitors/credit-watch/report",
        "alerts": "/ui/alerts",
        "policies": "/ui/policies",
        "policy": f"/ui/policies/{POLICY}",
        "audit": "/ui/audit",
        "batch": "/ui/batch",
        "datasets": "/ui/datasets",
        "dataset": "/ui/datasets/applications",
    }
    for name, path in pages.items():
        response = page.goto(console.url + path)
        assert response is not None and response.status == 200, (path, response)
        assert page.locator("h1").first.inner_text().strip(), path
        assert problems == [], (path, problems)
        if name != "monitor-report":
            _shot(page, name)
    # Keyboard: the skip link is the first stop and lands on the page's content.
    page.goto(f"{console.url}/ui/models/{MODEL}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.context.close()
    phone = _login(browser, console, "ada", width=390)
    phone.goto(f"{console.url}/ui/models/{MODEL}")
    # Nothing sticks out sideways at a phone's width (tables scroll inside their panel).
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    _shot(phone, "model-phone")
    phone.goto(f"{console.url}/ui/policies/{POLICY}")  # the spec and gate tables scroll too
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    phone.context.close()
    logged_out = browser.new_context(viewport={"width": 1280, "height": 700}).new_page()
    logged_out.goto(f"{console.url}/ui/models")  # no session: to the login page, and back
    assert "/ui/login?next=" in logged_out.url
    _shot(logged_out, "login")
    logged_out.context.close()


def test_drift_chart_shows_the_breached_feature(browser: Any, console: Console) -> None:
    page = _login(browser, console, "victor")
    page.goto(f"{console.url}/ui/monitors/credit-watch")
    chart = page.locator('.feature[data-feature="age"] svg[data-chart="drift"]')
    assert "age" in (chart.get_attribute("aria-label") or "")
    assert "drifted" in (chart.get_attribute("aria-label") or "")
    assert chart.locator("circle.breach").count() >= 1
    assert page.locator('#drift-table tr.breached[data-feature="age"]').count() == 1
    # A feature that did not drift has no breach mark.
    calm = page.locator('.feature:not(.breached) svg[data-chart="drift"]').first
    assert calm.locator("circle.breach").count() == 0
    page.context.close()


def test_the_policy_pages_show_the_loops_decisions(browser: Any, console: Console) -> None:
    page = _login(browser, console, "victor")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    # The overview's recent decisions link to the policy's timeline.
    decisions = page.locator("#decisions li")
    assert decisions.count() >= 1
    assert POLICY in decisions.first.inner_text()
    page.goto(f"{console.url}/ui/policies")
    row = page.locator(f'#policies tr[data-policy="{POLICY}"]')
    assert row.locator(".status").first.inner_text() in {
        "idle",
        "retraining",
        "gating",
        "canary",
        "watching",
    }
    row.locator(f'a[href="/ui/policies/{POLICY}"]').click()
    page.wait_for_url(f"**/ui/policies/{POLICY}")
    kinds = page.locator("#timeline > li").evaluate_all("items => items.map(i => i.dataset.kind)")
    assert {"promoted", "rolled_back", "gate_failed", "gate_passed"} <= set(kinds), kinds
    ids = page.locator("#timeline > li").evaluate_all("items => items.map(i => +i.id.slice(6))")
    assert ids == sorted(ids, reverse=True), ids  # newest first
    # The refused candidate's gate report, rule by rule.
    failed = page.locator('#timeline > li[data-kind="gate_failed"]').first
    assert failed.locator("table.gate tr.breached").count() >= 1
    assert "refused" in failed.locator("table.gate caption").inner_text()
    assert "monitor: " in page.locator("#spec").inner_text()
    # Filtered by kind.
    page.get_by_label("Kind").select_option("rolled_back")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**kind=rolled_back**")
    shown = page.locator("#timeline > li").evaluate_all("items => items.map(i => i.dataset.kind)")
    assert shown and set(shown) == {"rolled_back"}, shown
    # The model's alias history links the loop's moves to its decisions.
    page.goto(f"{console.url}/ui/models/{POLICY}")
    assert page.get_by_role("link", name=f"decisions of {POLICY}").count() >= 1
    assert problems == [], problems
    page.context.close()


def test_a_viewer_sees_no_rollback_and_a_forged_one_is_refused(
    browser: Any, console: Console
) -> None:
    page = _login(browser, console, "victor")
    page.goto(f"{console.url}/ui/models/{MODEL}")
    assert page.locator("#aliases").count() == 1
    assert page.get_by_role("button", name=re.compile("Roll back")).count() == 0
    # Forged: the form the viewer's page does not have, sent with the viewer's own session
    # and a valid CSRF token.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "usina_csrf")
    forged = page.request.post(
        f"{console.url}/ui/models/{MODEL}/aliases/champion/rollback",
        form={"csrf": csrf, "reason": "forged"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "usina.models.deploy" in forged.text()
    page.context.close()
    with _api(console, "victor") as api:
        refused = api.post(
            f"/ui/models/{MODEL}/aliases/champion/rollback", data={"reason": "forged"}
        )
        assert refused.status_code == 403
        assert (
            api.post(
                f"/api/v1/models/{MODEL}/aliases/champion/rollback", json={"reason": "forged"}
            ).status_code
            == 403
        )
    with _api(console, "ada") as admin:

        def denied() -> list[Any]:
            found = admin.get(
                "/api/v1/audit",
                params={
                    "actor": "user:victor",
                    "decision": "deny",
                    "action": "usina.models.deploy",
                },
            ).json()["items"]
            return (
                [r for r in found if r["resource"] == f"models/{MODEL}"] if len(found) >= 3 else []
            )

        records = wait_until(denied, 10, "the refused rollbacks in the audit log")
        assert {r["status"] for r in records} == {403}
        champion = admin.get(f"/api/v1/models/{MODEL}/aliases/champion").json()
        history = admin.get(f"/api/v1/models/{MODEL}/history").json()["items"]
        assert not any(c["reason"] == "forged" for c in history), champion


def test_a_form_without_its_csrf_token_is_refused(browser: Any, console: Console) -> None:
    page = _login(browser, console, "alice")
    page.goto(f"{console.url}/ui/models/{MODEL}")
    sent = page.request.post(
        f"{console.url}/ui/models/{MODEL}/aliases/champion/rollback",
        form={"reason": "no token"},
        max_redirects=0,
    )
    assert sent.status == 403
    assert "CSRF" in sent.text()
    session = next(c for c in page.context.cookies() if c["name"] == "usina_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.context.close()


def test_without_authentication_the_console_needs_no_login(console: Console) -> None:
    from usina.server import ServerConfig, create_app

    app = create_app(ServerConfig(db_url=console.db_url, artifacts=console.artifacts, serving=None))
    with ThreadServer(app) as url, httpx.Client(base_url=url) as plain:
        shown = plain.get(f"/ui/models/{MODEL}")
        assert shown.status_code == 200
        assert "Roll back" in shown.text or "nothing before" in shown.text
        assert plain.get("/ui/login", follow_redirects=False).status_code == 303
        # Without a session every form still needs its CSRF token.
        assert plain.post(f"/ui/models/{MODEL}/aliases/champion/rollback").status_code == 403
