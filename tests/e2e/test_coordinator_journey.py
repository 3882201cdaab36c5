"""A coordinator runs a study from the browser alone, as a new user would: log into /admin/, create a study,
upload real portraits as a ZIP with its manifest (a bad manifest is refused first, with its line numbers),
fill the pool from the bundled checkpoint as a background job and watch it finish, see readiness turn green,
issue 5 invites and download them, open the dashboard and the item view, and download every export (the
spreadsheets prepared by jobs). The worker (`manage.py db_worker`) runs in this process between browser
steps, as it would beside the server. Screenshots of every page at desktop, tablet and phone sizes go to
test-artifacts/e2e/coordinator/."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command

import phantoms
from survey.models import Invite, Job, Portrait, Study
from tests.e2e.participant import DESKTOP, DEVICES, DISORDERS
from tests.survey.test_coordinator_pages import play_fooled

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long enough password"
PER_DISORDER = 12  # synthetic portraits the pool fill adds per disorder: what the study's roles need


@pytest.fixture
def shots(artifacts):
    folder = artifacts / "coordinator"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def snap(page, shots, name: str) -> None:
    """The page as it is now at each screen size, then back to the desktop size. No page is wider than its
    screen: what does not fit (a long link, a wide table) wraps, shrinks or scrolls inside the page, so a
    coordinator on a tablet or phone never pans the whole page sideways to find a button."""
    too_wide = {}
    for device in DEVICES:
        page.set_viewport_size({"width": device.width, "height": device.height})
        page.screenshot(path=shots / f"{name}-{device.name}.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > device.width:
            too_wide[device.name] = (width, device.width, widest_elements(page, device.width))
    page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})
    assert not too_wide, f"{name}: wider than the screen (page width, screen width, what sticks out): {too_wide}"


def widest_elements(page, screen_width: int) -> list[str]:
    """The innermost elements that reach past the screen's right edge, to say what overflows."""
    return page.evaluate(
        """(limit) => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > limit + 1 && e.offsetParent !== null)
        .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > limit + 1))
        .slice(0, 5).map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${e.className}`
                              + ` right=${Math.round(e.getBoundingClientRect().right)}`)""",
        screen_width,
    )


# Records what the upload's progress bar showed: the page the server answers replaces the body, so what
# was seen is kept on the window.
WATCH_UPLOAD_PROGRESS = """() => {
    const bar = document.querySelector("progress.upload");
    window.uploadSeen = {shown: false, percents: [0]};
    new MutationObserver(() => {
        window.uploadSeen.shown ||= !bar.hidden;
        window.uploadSeen.percents.push(Number(bar.value));
    }).observe(bar, {attributes: true});
}"""


# Every invite link lies wholly inside the visible part of the admin's list (which scrolls sideways).
LINKS_IN_VIEW = """[...document.querySelectorAll('.invite-link code')].every(code => {
    const link = code.getBoundingClientRect(), list = code.closest('.results').getBoundingClientRect();
    return link.left >= list.left && link.right <= list.right && link.width > 0;
})"""


def real_portraits_zip(phantom_bank_images, folder) -> tuple:
    """The real portraits of the study as a ZIP (in a folder inside it, as a coordinator's would be) and
    their manifest."""
    archive, rows = folder / "portraits.zip", ["filename,disorder,kind,used_in_training"]
    with zipfile.ZipFile(archive, "w") as bundle:
        for code, kinds in phantom_bank_images.items():
            for kind in ("training", "held_out"):
                for number, image in enumerate(kinds[kind]):
                    name = f"{code}-{kind}-{number}.png"
                    data = io.BytesIO()
                    image.save(data, format="PNG")
                    bundle.writestr(f"photos/{name}", data.getvalue())
                    rows.append(f"{name},{code},real,{int(kind == 'training')}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    bad = folder / "bad-manifest.csv"
    bad_rows = rows[:2] + [
        rows[2].replace(f",{DISORDERS[0]},", ",nosuchdisorder,"),
        rows[3].replace(".png,", "-missing.png,", 1),
    ]
    bad.write_text("\n".join(bad_rows) + "\n")
    return archive, manifest, bad


def run_worker() -> None:
    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)


def download(page, click) -> bytes:
    with page.expect_download() as caught:
        click()
    return caught.value.path().read_bytes()


def test_a_coordinator_runs_a_study_from_the_browser(
    browser, live_server, phantom_bank_images, image_bank_root, shots, tmp_path
):
    names = {d.code: d.name for d in phantoms.DISORDERS}
    from tests.survey.factories import DisorderFactory

    disorders = [DisorderFactory(code=code, name=names[code]) for code in DISORDERS]
    coordinator = get_user_model().objects.create_user("coordinator", "c@example.org", PASSWORD, is_staff=True)
    coordinator.user_permissions.set(Permission.objects.filter(content_type__app_label="survey"))
    archive, manifest, bad_manifest = real_portraits_zip(phantom_bank_images, tmp_path)
    context = browser.new_context(viewport={"width": DESKTOP.width, "height": DESKTOP.height}, accept_downloads=True)
    page = context.new_page()
    base = live_server.url
    try:
        page.goto(f"{base}/admin/login/")
        snap(page, shots, "01-login")
        page.fill("#id_username", "coordinator")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")

        # a new study: its disorders, questions per category, the clock in seconds
        page.goto(f"{base}/admin/survey/study/add/")
        page.fill("#id_title", "Phantom portraits study")
        page.fill("#id_consent_text", "You will see phantom portraits drawn by a program.")
        page.select_option("#id_disorders_from", [str(d.pk) for d in disorders])
        page.click("#id_disorders_add")
        for field in ("n_real_vs_synthetic", "n_reidentification", "n_diagnosis"):
            page.fill(f"#id_{field}", "2")
        page.fill("#id_expected_sessions", "2")
        page.fill("#id_arming_delay_s", "0")
        snap(page, shots, "02-add-study")
        page.click("input[name=_save]")
        page.wait_for_selector("ul.messagelist")
        study = Study.objects.get(title="Phantom portraits study")
        assert list(study.coordinators.all()) == [coordinator]
        assert sorted(study.disorders.values_list("code", flat=True)) == sorted(DISORDERS)

        # the image bank page: a bad manifest is refused with its line numbers, and nothing is added
        page.goto(f"{base}/admin/survey/study/{study.pk}/change/")
        assert "Not ready" in page.inner_text(".field-readiness")
        page.click(".field-readiness a:text('image bank')")
        page.wait_for_selector("form.upload")
        page.set_input_files("#id_manifest", str(bad_manifest))
        page.set_input_files("#id_archive", str(archive))
        page.click("form.upload button[type=submit]")
        page.wait_for_selector("ul.problems li")  # the page the server answered replaces the form's
        problems = page.locator("ul.problems li").all_inner_texts()
        assert any("line 3" in p and "nosuchdisorder" in p for p in problems), problems
        assert any("line 4" in p and "-missing.png" in p and "cannot be read" in p for p in problems), problems
        assert "Nothing was added" in page.inner_text(".errornote[role=alert]")
        assert not Portrait.objects.filter(study=study).exists()
        snap(page, shots, "03-bad-manifest-refused")

        page.set_input_files("#id_manifest", str(manifest))
        page.set_input_files("#id_archive", str(archive))
        page.evaluate(WATCH_UPLOAD_PROGRESS)
        page.click("form.upload button[type=submit]")
        page.wait_for_selector("ul.messagelist")
        seen = page.evaluate("window.uploadSeen")  # the bar was shown, and reached 100 % before the answer
        assert seen["shown"] and max(seen["percents"]) == 100, seen
        assert page.url.endswith(f"/staff/studies/{study.slug}/portraits/")
        n_real = sum(len(k["training"]) + len(k["held_out"]) for k in phantom_bank_images.values())
        assert f"Added {n_real} portrait(s)" in page.inner_text("ul.messagelist")
        assert "Not ready for sessions yet" in page.inner_text("#content")  # no synthetic portraits yet
        snap(page, shots, "04-image-bank-real-portraits")

        # fill the pool from the bundled checkpoint: queued, then run by the worker
        page.click("nav.study-nav a:text('Fill the pool')")
        page.wait_for_selector("form.pool-fill")
        assert page.locator("#id_checkpoint option").all_inner_texts() == ["generator-demo64.safetensors"]
        page.fill("#id_per_disorder", str(PER_DISORDER))
        snap(page, shots, "05-fill-the-pool")
        page.click("form.pool-fill button[type=submit]")
        page.wait_for_selector(".job[data-state=queued]")
        assert "Waiting for a worker" in page.inner_text(".job-state")
        snap(page, shots, "06-pool-fill-queued")
        run_worker()
        page.wait_for_selector(".job[data-state=done]", timeout=15_000)  # the page refreshes itself
        report = page.inner_text(".job")
        assert (
            f"Added {PER_DISORDER * len(DISORDERS)} synthetic portraits and {len(DISORDERS)} latent averages" in report
        )
        assert "face gate:" in report and "disorder gate:" in report
        for code in DISORDERS:
            assert f"{code}: {PER_DISORDER} synthetic portraits and a latent average" in report
        assert "Ready:" in page.inner_text("p.ready")  # readiness turned green
        snap(page, shots, "07-pool-fill-done")
        assert Portrait.objects.filter(study=study, kind="synthetic").count() == PER_DISORDER * len(DISORDERS)

        page.goto(f"{base}/admin/survey/study/{study.pk}/change/")
        assert page.inner_text(".field-readiness .readonly").startswith("Ready.")
        page.locator(".field-readiness").scroll_into_view_if_needed()
        snap(page, shots, "08-study-ready")

        # 5 invites, then their links as CSV
        page.goto(f"{base}/admin/survey/study/")
        page.check(f"input[name=_selected_action][value='{study.pk}']")
        page.select_option("select[name=action]", "issue_invites")
        page.click("button[name=index]")
        page.wait_for_selector("#id_count")
        page.fill("#id_count", "5")
        page.fill("#id_label_prefix", "Ward A")
        snap(page, shots, "09-issue-invites")
        page.click("input[name=apply]")
        page.wait_for_selector("button.copy-link")
        assert page.locator("button.copy-link").count() == 5
        snap(page, shots, "10-invite-links")
        for device in DEVICES:  # each link is read whole where it stands, without scrolling the list
            page.set_viewport_size({"width": device.width, "height": device.height})
            assert page.evaluate(LINKS_IN_VIEW), device.name
        page.set_viewport_size({"width": DESKTOP.width, "height": DESKTOP.height})
        page.check("#action-toggle")
        page.select_option("select[name=action]", "download_csv")
        rows = list(csv.DictReader(io.StringIO(download(page, lambda: page.click("button[name=index]")).decode())))
        tokens = set(Invite.objects.filter(study=study).values_list("token", flat=True))
        assert len(rows) == 5 and {r["link"].rsplit("/", 2)[-2] for r in rows} == tokens
        assert all(r["label"].startswith("Ward A") for r in rows)

        play_fooled(study)  # an expert takes the study (through the services, as the quiz pages do)

        page.goto(f"{base}/staff/studies/{study.slug}/dashboard/")  # the figures are the worker's to compute
        assert page.get_attribute(".figures-state", "data-state") == "computing"
        snap(page, shots, "11-dashboard-computing")
        run_worker()
        page.reload()
        page.wait_for_selector("text=Per category")
        assert page.locator(".figures-state").count() == 0  # current figures, no label
        assert "1 sessions started" in " ".join(page.inner_text("#content").split()).replace("</strong>", "")
        snap(page, shots, "11-dashboard")
        page.click("nav.study-nav a:text('Per portrait')")
        page.wait_for_selector("ol.fooled img")
        page.wait_for_function("[...document.querySelectorAll('ol.fooled img')].every(i => i.complete)")
        assert page.evaluate("[...document.querySelectorAll('ol.fooled img')].every(i => i.naturalWidth > 0)")
        snap(page, shots, "12-item-view")

        # every export: CSV and JSON at once, spreadsheets through jobs
        page.click("nav.study-nav a:text('Exports')")
        page.wait_for_selector("table.exports")
        snap(page, shots, "13-exports")
        files = {}
        for name in [f"{t}.{f}" for t in ("answers", "options", "participants") for f in ("csv", "json")] + [
            "settings.json"
        ]:
            files[name] = download(page, lambda name=name: page.click(f"table.exports a:text-is('{name}')"))
        answers = list(csv.DictReader(io.StringIO(files["answers.csv"].decode())))
        assert len(answers) == 6 and {a["outcome"] for a in answers} <= {"answered", "skipped"}
        assert len(json.loads(files["answers.json"])) == 6
        assert json.loads(files["settings.json"])["study"]["slug"] == study.slug
        assert len(list(csv.DictReader(io.StringIO(files["participants.csv"].decode())))) == 1
        for table in ("answers", "options", "participants"):
            page.goto(f"{base}/staff/studies/{study.slug}/exports/")
            page.click(f"button:text('Prepare {table}.xlsx')")
            page.wait_for_selector(".job[data-state=queued]")
        run_worker()
        page.wait_for_selector(".job[data-state=done] a.download", timeout=15_000)
        snap(page, shots, "14-spreadsheet-ready")
        page.goto(f"{base}/staff/studies/{study.slug}/exports/")
        snap(page, shots, "15-exports-with-spreadsheets")
        from openpyxl import load_workbook

        for table in ("answers", "options", "participants"):
            data = download(page, lambda table=table: page.click(f"table.jobs a:text('{study.slug}-{table}.xlsx')"))
            sheet = load_workbook(io.BytesIO(data))[table]
            assert sheet.max_row == 1 + {"answers": 6, "participants": 1}.get(table, sheet.max_row - 1)
        assert Job.objects.filter(study=study, state=Job.State.DONE).exclude(kind=Job.Kind.DASHBOARD).count() == 4
    finally:
        context.close()
