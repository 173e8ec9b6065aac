"""Digest schedules: crontab semantics in the subscriber's time zone, and the period a run serves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.scheduler import cron_trigger, cron_weekdays, latest_fire_time

SUNDAY_NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # 13:00 in Pristina


def test_weekday_numbers_mean_what_they_mean_in_crontab() -> None:
    # APScheduler 3 counts Monday as 0; crontab counts Sunday as 0 (and 7). A desk writing
    # "1-5" means Monday to Friday.
    assert cron_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert cron_weekdays("0,6") == cron_weekdays("6,7") == "sun,sat"
    assert cron_weekdays("*/2") == "sun,tue,thu,sat"
    assert cron_weekdays("mon-fri") == "mon,tue,wed,thu,fri"
    with pytest.raises(ValueError, match="unknown weekday"):
        cron_weekdays("9")


def test_a_weekday_morning_digest_in_pristina_time() -> None:
    weekdays_at_seven = cron_trigger("0 7 * * 1-5", "Europe/Pristina")
    # on a Sunday, the latest run was Friday 07:00 in Pristina (06:00 UTC in winter)
    assert latest_fire_time(weekdays_at_seven, SUNDAY_NOON) == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert latest_fire_time(weekdays_at_seven, summer) == datetime(2026, 7, 1, 5, 0, tzinfo=UTC)


def test_missed_runs_are_one_period_the_latest() -> None:
    hourly = cron_trigger("0 * * * *", "UTC")
    # down since 02:30: ten runs were missed; the catch-up serves the latest one only
    assert latest_fire_time(hourly, SUNDAY_NOON.replace(minute=30)) == SUNDAY_NOON
    yearly = cron_trigger("0 7 1 1 *", "UTC")
    assert latest_fire_time(yearly, SUNDAY_NOON) == datetime(2026, 1, 1, 7, 0, tzinfo=UTC)


def test_six_fields_put_seconds_first() -> None:
    every_five_seconds = cron_trigger("*/5 * * * * *", "UTC")
    assert latest_fire_time(every_five_seconds, SUNDAY_NOON.replace(second=7)) == SUNDAY_NOON.replace(second=5)
