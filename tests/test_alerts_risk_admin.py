"""The risk rules' admin (key admins only): add, change and delete a rule with clear errors, and
the preview of which accounts would fire now with their figures (on the change page, for the
form's unsaved values, and as an action); the Alerts page shows a risk alert's severity and rule."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account
from alerts.engine import evaluate
from alerts.models import AlertChannel, AlertSettings, ChannelKind, RiskRule
from snapshots.models import Snapshot
from snapshots.refresh import NO_RATIO_FUTURES, NO_RATIO_NO_MMR
from tests.accounts_support import make_user
from tests.alerts_support import reading

pytestmark = pytest.mark.django_db

RULES = "/admin/alerts/riskrule/"


@pytest.fixture
def desks():
    """ "desk" at a 120 % margin ratio, "calm" at 800 %, "new" never read."""
    now = timezone.now()
    desk, calm, new = (Account.objects.create(name=name) for name in ("desk", "calm", "new"))
    reading(desk, now, margin_ratio="1.2", positions=(("BTC-USDT-SWAP", "long", "60000", "57000"),))
    reading(calm, now, margin_ratio="8")
    return desk, calm, new


@pytest.fixture
def key_admin(client):
    client.force_login(make_user("key_admin"))
    return client


def form(**fields) -> dict:
    return {
        "name": "margin watch",
        "kind": "margin_ratio",
        "threshold": "150",
        "severity": "critical",
        "remind_every_hours": "4",
        "enabled": "on",
        "all_accounts": "on",
        "all_channels": "on",
        **fields,
    }


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_key_admins_reach_the_risk_rules(client, role, desks):
    made = RiskRule.objects.create(name="r", kind="forced_close")
    client.force_login(make_user(role))
    for page in (RULES, RULES + "add/", RULES + f"{made.pk}/change/"):
        assert client.get(page).status_code == 403
    assert client.post(RULES + "add/", form()).status_code == 403
    assert client.post(RULES + "add/", form(_preview="1")).status_code == 403
    assert RiskRule.objects.count() == 1


def test_a_key_admin_adds_a_rule_for_chosen_accounts_and_channels(key_admin, desks):
    desk, _, _ = desks
    mail = AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="a@example.com")
    response = key_admin.post(RULES + "add/", form(accounts=[desk.pk], channels=[mail.pk]))
    assert response.status_code == 302, response.content.decode()[:3000]
    made = RiskRule.objects.get()
    assert (made.kind, made.threshold, made.severity, made.remind_every_hours) == (
        "margin_ratio",
        Decimal("150"),
        "critical",
        4,
    )
    assert list(made.accounts.all()) == [desk] and list(made.channels.all()) == [mail]
    assert (made.all_accounts, made.all_channels) == (False, False)  # choosing turned them off
    listing = key_admin.get(RULES).content.decode()
    assert "margin watch" in listing and "150%" in listing and "every 4 h" in listing

    assert key_admin.post(RULES + f"{made.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not RiskRule.objects.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"threshold": ""}, "Enter the threshold in percent (more than 0, at most 10,000 %)."),
        ({"threshold": "0"}, "The threshold must be more than 0 and at most 10,000 % (not 0 %)."),
        ({"kind": "liq_distance", "threshold": "250"}, "at most 100 % (not 250 %)."),
        ({"kind": "forced_close"}, "A liquidation or ADL rule has no threshold: leave it blank."),
        ({"remind_every_hours": "200"}, "Ensure this value is less than or equal to 168."),
        ({"all_accounts": ""}, "Choose the accounts to watch, or tick “every active live account”."),
        ({"all_channels": ""}, "Choose the channels to tell, or tick “every enabled channel”."),
    ],
)
def test_a_rule_that_does_not_make_sense_is_refused_with_the_reason(key_admin, fields, error):
    response = key_admin.post(RULES + "add/", form(**fields))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not RiskRule.objects.exists()


def test_the_change_page_previews_which_accounts_would_fire_now_with_their_figures(key_admin, desks):
    made = RiskRule.objects.create(name="margin watch", kind="margin_ratio", threshold=Decimal("150"))
    html = key_admin.get(RULES + f"{made.pk}/change/").content.decode()
    preview = html[html.index('id="risk-preview-') :]
    assert "margin watch: 1 would fire now" in preview
    assert row(preview, "desk") == ["desk", "margin ratio 120.0%", "would fire"]
    assert row(preview, "calm") == ["calm", "margin ratio 800.0%", "clear"]
    assert row(preview, "new") == ["new", "never read", "unknown: held"]


def test_the_preview_says_nothing_at_risk_for_an_account_without_positions_or_margin(key_admin, desks):
    """idle: no open position, OKX reports mmr 0 and no ratio; flat: Futures mode with no position
    (OKX gives no account figures). Neither can be liquidated: "nothing at risk", never "unknown:
    held"; "new" (never read) is still held."""
    now = timezone.now()
    idle, flat = (Account.objects.create(name=name) for name in ("idle", "flat"))
    reading(idle, now, risk_note=NO_RATIO_NO_MMR, mmr_usd="0")
    Snapshot.objects.filter(pk=reading(flat, now, risk_note=NO_RATIO_FUTURES).pk).update(
        adj_equity_usd=None, imr_usd=None, mmr_usd=None
    )
    for kind, threshold in (("margin_ratio", "150"), ("liq_distance", "10")):
        made = RiskRule.objects.create(name=kind, kind=kind, threshold=Decimal(threshold))
        html = key_admin.get(RULES + f"{made.pk}/change/").content.decode()
        preview = html[html.index('id="risk-preview-') :]
        assert [row(preview, name)[2] for name in ("idle", "flat", "new")] == [
            "nothing at risk",
            "nothing at risk",
            "unknown: held",
        ]
    assert row(preview, "flat")[1].startswith("no open positions")


def test_the_form_and_the_list_write_hours_and_thresholds_as_people_read_them(key_admin, desks):
    page = key_admin.get(RULES + "add/").content.decode()
    assert "Remind every (hours):" in page and "Remind every hours" not in page
    RiskRule.objects.create(name="near", kind="liq_distance", threshold=Decimal("12.5"))
    listing = key_admin.get(RULES).content.decode()
    assert "12.5%" in listing  # a threshold as stored, as the alerts write it


def row(html: str, account: str) -> list[str]:
    """The preview table's cells of `account`'s row, as text."""
    for tr in re.findall(r"<tr class=\"verdict-[a-z]+\">(.*?)</tr>", html, re.S):
        cells = [
            re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        ]
        if cells and cells[0] == account:
            return cells
    raise AssertionError(f"no preview row for {account}")


def test_previewing_an_unsaved_form_shows_its_figures_keeps_the_values_and_saves_nothing(key_admin, desks):
    desk, calm, _ = desks
    response = key_admin.post(
        RULES + "add/",
        form(
            name="near liquidation",
            kind="liq_distance",
            threshold="10",
            accounts=[desk.pk, calm.pk],
            _preview="1",
        ),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert not RiskRule.objects.exists()
    assert "Preview with the settings above (not saved): 1 would fire now" in html
    assert row(html, "desk") == [
        "desk",
        "BTC-USDT-SWAP 5.00% from liquidation (mark 60,000.00 USDT, liquidation 57,000.00 USDT)",
        "would fire",
    ]
    assert row(html, "calm") == ["calm", "no open positions", "clear"]
    assert 'value="near liquidation"' in html  # the form keeps what was typed

    refused = key_admin.post(RULES + "add/", form(threshold="-3", _preview="1")).content.decode()
    assert "The threshold must be more than 0" in refused and "(not saved)" not in refused
    assert not RiskRule.objects.exists()


def test_previewing_changes_to_a_saved_rule_leaves_it_as_it_was(key_admin, desks):
    made = RiskRule.objects.create(name="margin watch", kind="margin_ratio", threshold=Decimal("150"))
    html = key_admin.post(RULES + f"{made.pk}/change/", form(threshold="900", _preview="1")).content.decode()
    assert "(not saved): 2 would fire now" in html
    made.refresh_from_db()
    assert made.threshold == Decimal("150")


def test_the_preview_action_lists_every_chosen_rule(key_admin, desks):
    margin = RiskRule.objects.create(name="margin watch", kind="margin_ratio", threshold=Decimal("150"))
    forced = RiskRule.objects.create(name="liquidations", kind="forced_close", severity="critical")
    response = key_admin.post(RULES, {"action": "preview_action", "_selected_action": [margin.pk, forced.pk]})
    html = response.content.decode()
    assert response.status_code == 200
    assert "margin watch: 1 would fire now" in html
    assert "liquidations: 0 would fire now" in html
    assert "No liquidation or auto-deleveraging in the last 24 hours." in html


@pytest.mark.parametrize("role", ["viewer", "key_admin"])
def test_the_alerts_page_shows_a_risk_alerts_severity_and_rule(client, role, desks):
    AlertSettings.objects.update_or_create(pk=1, defaults={"account_stale": False, "refresh_stopped": False})
    made = RiskRule.objects.create(
        name="margin watch", kind="margin_ratio", threshold=Decimal("150"), severity="critical"
    )
    evaluate()
    client.force_login(make_user(role))
    html = client.get("/alerts/").content.decode()
    assert '<span class="badge critical">critical</span> <strong>Margin ratio 120.0% below 150%: desk' in html
    link = f'<a href="{RULES}{made.pk}/change/">margin watch</a>'
    assert ("rule " + link in html) is (role == "key_admin")
    assert "rule margin watch" in html or link in html


def test_a_rule_whose_chosen_account_and_channel_were_deleted_says_so_in_the_list_and_preview(
    key_admin, desks
):
    desk, _, _ = desks
    mail = AlertChannel.objects.create(name="team mail", kind=ChannelKind.EMAIL, recipients="a@example.com")
    made = RiskRule.objects.create(
        name="desk watch",
        kind="margin_ratio",
        threshold=Decimal("150"),
        all_accounts=False,
        all_channels=False,
    )
    made.accounts.set([desk])
    made.channels.set([mail])
    listing = key_admin.get(RULES).content.decode()
    assert "no accounts left" not in listing and "desk" in listing and "team mail" in listing

    desk.delete()
    mail.delete()
    listing = key_admin.get(RULES).content.decode()
    assert "no accounts left: edit this rule" in listing and "no channels left: edit this rule" in listing
    html = key_admin.get(RULES + f"{made.pk}/change/").content.decode()
    preview = html[html.index('id="risk-preview-') :]
    assert "desk watch: 0 would fire now" in preview
    assert "This rule has no accounts left: edit this rule." in preview
    assert "This rule has no channels left: edit this rule." in preview
    assert "No account is watched: no accounts left: edit this rule." in preview


def test_a_rule_stored_without_its_threshold_still_opens_and_its_preview_says_it_is_incomplete(
    key_admin, desks
):
    """A rule stored some other way than the form (no threshold) is skipped by the alert run; its
    change page and the Preview action still open, where a key admin fixes it."""
    made = RiskRule.objects.create(name="no threshold", kind="margin_ratio", threshold=None)
    page = key_admin.get(RULES + f"{made.pk}/change/")
    assert page.status_code == 200
    action = key_admin.post(RULES, {"action": "preview_action", "_selected_action": [made.pk]})
    assert action.status_code == 200
    for html in (page.content.decode(), action.content.decode()):
        preview = html[html.index('id="risk-preview-') :]
        assert "no threshold: 0 would fire now" in preview
        assert "This rule is incomplete: set a threshold." in preview
        assert "No account is judged: the rule is incomplete." in preview
