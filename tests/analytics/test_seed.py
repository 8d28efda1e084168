"""`manage.py seed`: every rule of the generated data, checked on one small seeded database.

The module seeds once (200 listeners, about 20,000 events over 6 months), the tests only
read, and the tables are emptied when the module is done.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, F, Q

from analytics.models import STREAM_MIN_MS, Assignment, Experiment, ListeningEvent, PlayContext
from analytics.seeding.loading import empty_tables
from analytics.seeding.runner import flushed_models
from billing.models import CancelReason, Listener, Payment, PaymentStatus, Plan, Subscription
from billing.periods import next_period_end
from billing.regions import region_of
from catalog.models import Episode, Follow, Playlist, PlaylistItem, Rating, Track

pytestmark = pytest.mark.django_db

END_DATE = date(2026, 11, 1)
MONTHS = 6
EVENTS = 20_000
ZONE = ZoneInfo(settings.TIME_ZONE)
END = datetime.combine(END_DATE, time(), tzinfo=ZONE)
START = datetime.combine(date(2026, 5, 1), time(), tzinfo=ZONE)
MONTH_STARTS = [datetime(2026, m, 1, tzinfo=ZONE) for m in range(5, 11)]


@pytest.fixture(scope="module", autouse=True)
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command(
            "seed",
            listeners=200,
            events=EVENTS,
            months=MONTHS,
            end_date=END_DATE.isoformat(),
            quiet=True,
            skip_rollups=True,
        )
        yield
        with transaction.atomic():
            empty_tables(connection, flushed_models())


def _paid_from(sub: Subscription):
    return sub.trial_ends_at or sub.started_at


def _subscriptions_by_listener() -> dict[int, list[Subscription]]:
    found: dict[int, list[Subscription]] = defaultdict(list)
    for sub in Subscription.objects.select_related("plan").order_by("listener_id", "started_at", "id"):
        found[sub.listener_id].append(sub)
    return found


def test_seed_event_count_is_about_the_requested_number():
    assert abs(ListeningEvent.objects.count() - EVENTS) <= EVENTS * 0.02


def test_seed_episodes_are_numbered_from_one_and_released_weekly():
    by_podcast = defaultdict(list)
    for podcast, number, released in Episode.objects.values_list("podcast", "number", "release_date"):
        by_podcast[podcast].append((number, released))
    assert by_podcast
    for episodes in by_podcast.values():
        episodes.sort()
        assert [n for n, _ in episodes] == list(range(1, len(episodes) + 1))
        gaps = {(b - a).days for (_, a), (_, b) in itertools.pairwise(episodes)}
        assert gaps <= {7}


def test_seed_subscriptions_never_overlap_and_one_at_most_is_open():
    for subs in _subscriptions_by_listener().values():
        assert sum(s.ended_at is None for s in subs) <= 1
        for before, after in itertools.pairwise(subs):
            assert before.ended_at is not None
            assert before.ended_at <= after.started_at


def test_seed_every_listener_starts_on_free_at_signup():
    signups = dict(Listener.objects.values_list("id", "signed_up_at"))
    for listener, subs in _subscriptions_by_listener().items():
        assert subs[0].plan.code == "free"
        assert subs[0].started_at == signups[listener]
    assert len(_subscriptions_by_listener()) == len(signups)


def test_seed_subscription_price_and_billing_period_come_from_the_plan():
    mismatched = Subscription.objects.exclude(price=F("plan__price")) | Subscription.objects.exclude(
        billing_period=F("plan__billing_period")
    )
    assert not mismatched.exists()
    free = Subscription.objects.filter(plan__code="free")
    assert not free.filter(Q(trial_ends_at__isnull=False) | Q(current_period_end__isnull=False)).exists()
    assert not Payment.objects.filter(subscription__plan__code="free").exists()


def test_seed_trial_once_per_listener_lasting_the_plans_trial_days():
    trials = Subscription.objects.filter(trial_ends_at__isnull=False).select_related("plan")
    assert trials.exists()
    per_listener = Counter(trials.values_list("listener_id", flat=True))
    assert max(per_listener.values()) == 1
    for sub in trials:
        assert sub.trial_ends_at == sub.started_at + timedelta(days=sub.plan.trial_days)
        assert sub.current_period_end >= sub.trial_ends_at


def test_seed_each_paid_period_has_one_succeeded_payment_and_periods_follow_each_other():
    payments = defaultdict(list)
    for payment in Payment.objects.exclude(status=PaymentStatus.FAILED).order_by("period_start"):
        payments[payment.subscription_id].append(payment)
    paid_subs = Subscription.objects.exclude(plan__code="free")
    checked = 0
    for sub in paid_subs:
        periods = payments.get(sub.id, [])
        if sub.trial_ends_at and sub.current_period_end == sub.trial_ends_at:
            assert periods == []  # the trial ended (or is running) without a payment
            continue
        assert periods, sub
        expected_start = _paid_from(sub)
        for payment in periods:
            assert payment.period_start == expected_start
            assert payment.period_end == next_period_end(
                anchor=_paid_from(sub), period_start=payment.period_start, billing_period=sub.billing_period
            )
            assert payment.amount == sub.price
            assert payment.idempotency_key == f"renew:{sub.id}:{payment.period_start.isoformat()}"
            assert payment.paid_at < END
            expected_start = payment.period_end
            checked += 1
        # A succeeded payment advances current_period_end; the last one set it.
        assert sub.current_period_end == periods[-1].period_end
        # Paid up to its end, or (still open) past the end of the data.
        assert (sub.ended_at or END) <= sub.current_period_end
    assert checked > 100


def test_seed_failed_attempts_are_numbered_and_retried_days_later():
    failed = Payment.objects.filter(status=PaymentStatus.FAILED).order_by(
        "subscription", "period_start", "paid_at"
    )
    assert failed.exists()
    attempts = defaultdict(list)
    for payment in failed:
        attempts[(payment.subscription_id, payment.period_start)].append(payment)
    for (subscription_id, period_start), rows in attempts.items():
        for n, payment in enumerate(rows, start=1):
            assert payment.idempotency_key == f"renew:{subscription_id}:{period_start.isoformat()}:failed:{n}"
            assert payment.paid_at >= period_start
        succeeded = Payment.objects.filter(
            subscription_id=subscription_id, period_start=period_start, status__in=["succeeded", "refunded"]
        ).first()
        if succeeded is not None:
            assert succeeded.paid_at > rows[-1].paid_at
        else:  # every retry failed: the subscription ended when the unpaid period began
            sub = Subscription.objects.get(pk=subscription_id)
            assert sub.ended_at == period_start
            assert sub.cancel_reason == CancelReason.PAYMENT_FAILED


def test_seed_mrr_is_covered_by_payments_at_every_month_start():
    subs = list(Subscription.objects.exclude(plan__code="free"))
    paid = Payment.objects.filter(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED])
    covered = defaultdict(list)
    for sub_id, start, end in paid.values_list("subscription_id", "period_start", "period_end"):
        covered[sub_id].append((start, end))
    checked = 0
    for moment in MONTH_STARTS:
        for sub in subs:
            if sub.is_paid_at(moment):
                assert any(start <= moment < end for start, end in covered[sub.id]), (sub.id, moment)
                checked += 1
    assert checked > 50


def test_seed_plan_changes_start_the_next_subscription_at_the_same_instant():
    changes = 0
    for subs in _subscriptions_by_listener().values():
        for before, after in itertools.pairwise(subs):
            if before.cancel_reason == CancelReason.PLAN_CHANGE:
                assert after.started_at == before.ended_at
                changes += 1
    premium_to_premium = Subscription.objects.filter(cancel_reason=CancelReason.PLAN_CHANGE).exclude(
        plan__code="free"
    )
    assert changes and premium_to_premium.exists()


def test_seed_cancellations_end_at_the_end_of_the_paid_period():
    ended = Subscription.objects.exclude(plan__code="free").filter(ended_at__isnull=False)
    assert ended.exists()
    assert not ended.exclude(ended_at=F("current_period_end")).exists()
    assert not ended.filter(auto_renew=True).exists()


def test_seed_refunds_come_after_their_payment_and_before_the_end():
    refunded = Payment.objects.filter(status=PaymentStatus.REFUNDED)
    assert refunded.exists()
    for payment in refunded:
        assert payment.paid_at <= payment.refunded_at < END


def test_seed_events_happen_after_signup_and_release_and_before_the_end():
    signups = dict(Listener.objects.values_list("id", "signed_up_at"))
    track_release = dict(Track.objects.values_list("id", "album__release_date"))
    episode_release = dict(Episode.objects.values_list("id", "release_date"))
    rows = ListeningEvent.objects.values_list("listener_id", "track_id", "episode_id", "played_at")
    for listener, track, episode, played_at in rows:
        assert signups[listener] <= played_at < END
        released = track_release[track] if track else episode_release[episode]
        assert released <= played_at.astimezone(ZONE).date()


def test_seed_skips_are_short_and_plays_fit_the_content_duration():
    durations = dict(Track.objects.values_list("id", "duration_ms"))
    episode_durations = dict(Episode.objects.values_list("id", "duration_ms"))
    rows = ListeningEvent.objects.values_list("track_id", "episode_id", "ms_played", "skipped")
    skips = 0
    for track, episode, ms_played, skipped in rows:
        duration = durations[track] if track else episode_durations[episode]
        assert 0 < ms_played <= duration
        assert (ms_played < STREAM_MIN_MS) == skipped
        skips += skipped
    assert 0.1 < skips / len(rows) < 0.4


def test_seed_skip_rate_depends_on_context_genre_and_position():
    def rate(queryset) -> float:
        counts = queryset.aggregate(n=Count("id"), skips=Count("id", filter=Q(skipped=True)))
        return counts["skips"] / counts["n"]

    tracks = ListeningEvent.objects.filter(track__isnull=False)
    assert (
        rate(tracks.filter(context=PlayContext.RADIO)) > rate(tracks.filter(context=PlayContext.ALBUM)) + 0.05
    )
    by_genre = [
        rate(tracks.filter(track__genre__name=genre))
        for genre in ("Pop", "Hip-Hop", "Classical", "Jazz", "Ambient")
    ]
    assert max(by_genre) - min(by_genre) > 0.05
    episodes = ListeningEvent.objects.filter(episode__isnull=False)
    assert rate(episodes) < rate(tracks) / 2


def test_seed_playlist_events_play_the_playlists_items_after_it_was_made():
    items = set(PlaylistItem.objects.values_list("playlist_id", "track_id"))
    created = dict(Playlist.objects.values_list("id", "created_at"))
    rows = ListeningEvent.objects.filter(context=PlayContext.PLAYLIST).values_list(
        "playlist_id", "track_id", "played_at"
    )
    assert rows.exists()
    for playlist, track, played_at in rows:
        assert (playlist, track) in items
        assert created[playlist] <= played_at
    assert (
        not ListeningEvent.objects.exclude(context=PlayContext.PLAYLIST)
        .filter(playlist__isnull=False)
        .exists()
    )


def _sessions():
    """Each listener's plays in order, cut where the gap after a play's end exceeds 30 minutes."""
    rows = ListeningEvent.objects.order_by("listener_id", "played_at", "id").values_list(
        "listener_id", "played_at", "ms_played", "context", "playlist_id"
    )
    sessions, current, last = [], [], None
    for listener, played_at, ms_played, context, playlist in rows:
        if last is not None and (
            last[0] != listener
            or played_at - (last[1] + timedelta(milliseconds=last[2])) > timedelta(minutes=30)
        ):
            sessions.append(current)
            current = []
        current.append((played_at, ms_played, context, playlist))
        last = (listener, played_at, ms_played)
    sessions.append(current)
    return sessions


def test_seed_plays_of_a_listener_never_overlap():
    rows = ListeningEvent.objects.order_by("listener_id", "played_at", "id").values_list(
        "listener_id", "played_at", "ms_played"
    )
    previous = None
    for listener, played_at, ms_played in rows:
        if previous and previous[0] == listener:
            # Times are whole seconds: a play may start within the second the last one ended.
            assert played_at >= previous[1] + timedelta(milliseconds=previous[2]) - timedelta(seconds=1)
        previous = (listener, played_at, ms_played)


def test_seed_playlist_runs_drop_off_after_the_first_tracks():
    depths = []
    for session in _sessions():
        run = 0
        for i, (_, _, context, playlist) in enumerate(session):
            if context == PlayContext.PLAYLIST and i and session[i - 1][3] == playlist:
                run += 1
            else:
                if run:
                    depths.append(run)
                run = 1 if context == PlayContext.PLAYLIST else 0
        if run:
            depths.append(run)
    funnel = [sum(d >= k for d in depths) / len(depths) for k in range(1, 5)]
    assert len(depths) > 300
    first_drop = 1 - funnel[1] / funnel[0]
    later_drop = 1 - funnel[3] / funnel[2]
    assert first_drop > later_drop > 0


def test_seed_sessions_have_several_plays():
    sessions = _sessions()
    assert 3 < statistics.mean(len(s) for s in sessions) < 30


def test_seed_listening_follows_a_daily_rhythm_in_the_reporting_time_zone():
    hours = Counter(
        played_at.astimezone(ZONE).hour
        for played_at in ListeningEvent.objects.values_list("played_at", flat=True)
    )
    night = sum(hours[h] for h in range(2, 6))
    evening = sum(hours[h] for h in range(17, 21))
    assert evening > 4 * night


def test_seed_signups_grow_and_countries_follow_the_markets():
    first = Listener.objects.filter(signed_up_at__gte=START, signed_up_at__lt=MONTH_STARTS[2]).count()
    last = Listener.objects.filter(signed_up_at__gte=MONTH_STARTS[3], signed_up_at__lt=END).count()
    assert last > first > 0
    countries = Counter(Listener.objects.values_list("country", flat=True))
    assert countries.most_common(1)[0][0] == "US"
    assert not Listener.objects.filter(signed_up_at__gte=END).exists()


def test_seed_audio_features_differ_by_genre():
    energy = {
        genre: statistics.mean(Track.objects.filter(genre__name=genre).values_list("energy", flat=True))
        for genre in ("Metal", "Classical")
    }
    assert energy["Metal"] > energy["Classical"] + 0.4
    assert Track.objects.filter(album__release_date__gte=START.date()).exists()  # new releases
    assert Track.objects.filter(album__release_date__lt=START.date()).exists()


def test_seed_follows_and_ratings_come_from_listening():
    streams = Counter(
        ListeningEvent.objects.filter(track__isnull=False, ms_played__gte=STREAM_MIN_MS).values_list(
            "listener_id", "track__primary_artist_id"
        )
    )
    followed = set()
    for listener, artist, followed_at, unfollowed_at in Follow.objects.values_list(
        "listener_id", "artist_id", "followed_at", "unfollowed_at"
    ):
        assert streams[(listener, artist)] > 0
        assert followed_at < END and (unfollowed_at is None or followed_at < unfollowed_at < END)
        followed.add((listener, artist))
    assert Follow.objects.filter(unfollowed_at__isnull=False).exists()
    mean_followed = statistics.mean(streams[pair] for pair in followed)
    mean_not = statistics.mean(n for pair, n in streams.items() if pair not in followed)
    assert mean_followed > 1.5 * mean_not

    plays = Counter(ListeningEvent.objects.filter(track__isnull=False).values_list("listener_id", "track_id"))
    scores = defaultdict(list)
    for listener, track, score in Rating.objects.filter(track__isnull=False).values_list(
        "listener_id", "track_id", "score"
    ):
        assert plays[(listener, track)] > 0
        scores[plays[(listener, track)] >= 3].append(score)
    assert statistics.mean(scores[True]) > statistics.mean(scores[False])


def test_seed_listeners_who_cancel_were_listening_less():
    """Engagement and churn are linked: in the 30 days before their subscription ended,
    listeners who cancelled played less than those still paying did in the last 30 days."""
    plays = defaultdict(list)
    for listener, played_at in ListeningEvent.objects.values_list("listener_id", "played_at"):
        plays[listener].append(played_at)

    def last_month(listener: int, until: datetime) -> int:
        return sum(until - timedelta(days=30) <= p < until for p in plays[listener])

    cancelled = Subscription.objects.filter(
        ended_at__gte=START + timedelta(days=30),
        ended_at__lt=END,
        cancel_reason__in=[CancelReason.NOT_USING, CancelReason.TOO_EXPENSIVE, CancelReason.SWITCHED],
    )
    staying = Subscription.objects.exclude(plan__code="free").filter(
        ended_at__isnull=True, started_at__lt=START
    )
    before_cancelling = [last_month(s.listener_id, s.ended_at) for s in cancelled]
    still_paying = [last_month(s.listener_id, END) for s in staying]
    assert len(before_cancelling) >= 10 and len(still_paying) >= 10
    assert statistics.median(before_cancelling) < statistics.median(still_paying)


def test_seed_fills_every_kpi_input():
    events = ListeningEvent.objects.all()
    paid_subs = Subscription.objects.exclude(plan__code="free")
    listener_plans = defaultdict(list)
    for listener, _code, started_at, ended_at in paid_subs.order_by("started_at").values_list(
        "listener_id", "plan__code", "started_at", "ended_at"
    ):
        listener_plans[listener].append((started_at, ended_at))
    reactivated = [
        listener
        for listener, spans in listener_plans.items()
        if any(
            b_start >= START and a_end is not None and b_start > a_end
            for (_, a_end), (b_start, _) in itertools.pairwise(spans)
        )
    ]
    rated_tracks = Rating.objects.filter(track__isnull=False).values("track").annotate(n=Count("id"))
    countries = set(Listener.objects.values_list("country", flat=True))
    experiments = Experiment.objects.exclude(status="draft")
    inputs = {
        "events": events.exists(),
        "streams": events.filter(ms_played__gte=STREAM_MIN_MS).exists(),
        "skips": events.filter(skipped=True).exists(),
        "playlist runs": events.filter(context=PlayContext.PLAYLIST).exists(),
        "episode plays": events.filter(episode__isnull=False).exists(),
        "every context": events.values("context").distinct().count() == len(PlayContext.choices),
        "every plan": set(Subscription.objects.values_list("plan__code", flat=True))
        == set(Plan.objects.values_list("code", flat=True)),
        "trials": Subscription.objects.filter(trial_ends_at__gte=START, trial_ends_at__lt=END).exists(),
        "plan changes": paid_subs.filter(
            cancel_reason=CancelReason.PLAN_CHANGE, ended_at__gte=START
        ).exists(),
        "cancellations": paid_subs.exclude(cancel_reason__in=["", CancelReason.PLAN_CHANGE]).exists(),
        "reactivations": bool(reactivated),
        "failed payments": Payment.objects.filter(status=PaymentStatus.FAILED, paid_at__gte=START).exists(),
        "refunds": Payment.objects.filter(status=PaymentStatus.REFUNDED).exists(),
        "follows": Follow.objects.exists(),
        "ratings with 5 votes": rated_tracks.filter(n__gte=5).exists(),
        "several countries": len(countries) >= 10,
        "several regions": len({region_of(c) for c in countries}) == 5,
        "experiments": experiments.count() >= 2,
        "assignments per variant": all(
            e.variants.count() == e.variants.filter(assignments__isnull=False).distinct().count()
            for e in experiments
        ),
        "public and private playlists": Playlist.objects.filter(is_public=False).exists()
        and Playlist.objects.filter(is_public=True, owner__isnull=False).exists(),
        "podcast playlists": Playlist.objects.filter(content_kind="podcast").exists(),
        "editorial playlists": Playlist.objects.filter(owner__isnull=True).exists(),
    }
    assert [name for name, ok in inputs.items() if not ok] == []


def test_seed_experiments_assign_inside_their_window_by_planned_weights():
    for experiment in Experiment.objects.all():
        assignments = Assignment.objects.filter(experiment=experiment)
        if experiment.status == "draft":
            assert experiment.started_at is None and not assignments.exists()
            continue
        assert not assignments.filter(assigned_at__lt=experiment.started_at).exists()
        if experiment.ended_at:
            assert not assignments.filter(assigned_at__gte=experiment.ended_at).exists()
        assert not assignments.exclude(variant__experiment=experiment).exists()
        control = assignments.filter(variant__is_control=True).count()
        assert 0.3 < control / assignments.count() < 0.7  # planned 50%
