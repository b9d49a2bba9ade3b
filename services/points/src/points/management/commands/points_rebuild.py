"""``manage.py points_rebuild [--dry-run] | --drop-old``: rebuild the read model from the topics."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from eventing.consumer.registry import registry
from eventing.exceptions import EventingError
from eventing.replay import build_replay
from points.rebuild import (
    GROUP,
    OLD_TABLES,
    SHADOW_TABLES,
    LockNotAcquired,
    RebuildRefused,
    RebuildResult,
    drop_tables,
    rebuild,
)


class Command(BaseCommand):
    help = (
        "Rebuild the points read model from the beginning of its topics into shadow tables while "
        "the live one keeps serving, then swap them in atomically (the live consumer may keep "
        "running). The replaced tables are kept as points_customer_old / points_order_old. "
        "--dry-run builds and compares without swapping; --drop-old drops the kept tables."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="build and compare with the live tables, swap nothing (the live consumer waits "
            "during the comparison; the shadow tables stay for inspection)",
        )
        parser.add_argument(
            "--drop-old",
            action="store_true",
            help="only drop the tables an earlier swap kept (and a dry run's shadow tables)",
        )
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="give up waiting for the live tables' lock after this long, and try again (default 5)",
        )
        parser.add_argument(
            "--idle-timeout",
            type=float,
            default=60.0,
            metavar="SECONDS",
            help="fail if no message arrives for this long while short of the end offsets (default 60)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["drop_old"]:
            dropped = drop_tables(OLD_TABLES, SHADOW_TABLES)
            self.stdout.write(f"Dropped {', '.join(dropped)}." if dropped else "Nothing to drop.")
            return
        handlers = registry.for_group(GROUP)
        if not handlers.all():
            raise CommandError(f"No handlers registered for group {GROUP!r}")
        replay = build_replay(handlers, prefix="points", idle_timeout=options["idle_timeout"])
        try:
            result = rebuild(
                replay,
                swap=not options["dry_run"],
                lock_timeout=options["lock_timeout"],
                say=lambda line: self.stdout.write(line),
            )
        except (RebuildRefused, LockNotAcquired, EventingError) as exc:
            raise CommandError(f"Rebuild refused or failed, the live read model is unchanged: {exc}") from exc
        finally:
            replay.close()
        self.report(result)

    def report(self, result: RebuildResult) -> None:
        stats, comparison = result.stats, result.comparison
        cut = ", ".join(f"{t}[{p}]={offset}" for (t, p), offset in sorted(result.cut.items()))
        self.stdout.write(
            f"Replayed {stats.read} messages: {stats.applied} events applied, {stats.skipped} without "
            f"handler, {stats.poison} undecodable (skipped); cut at {cut}."
        )
        (c_before, c_after), (o_before, o_after) = comparison.customers, comparison.orders
        self.stdout.write(
            f"Rows live -> rebuilt: customers {c_before} -> {c_after} ({comparison.customers_differing} "
            f"differ), orders {o_before} -> {o_after} ({comparison.orders_differing} differ)."
        )
        self.stdout.write(f"Awards that differ: {comparison.awards_differing}.")
        for diff in comparison.examples:
            self.stdout.write(f"  customer {diff.customer_id}: {diff.before} -> {diff.after}")
        if result.swapped:
            self.stdout.write(
                f"Swapped in {result.lock_seconds:.3f}s under lock (total {result.seconds:.1f}s; the "
                f"comparison held writes back {result.share_seconds:.3f}s): points_customer and "
                f"points_order are the rebuilt tables; the replaced ones are kept as "
                f"{', '.join(OLD_TABLES)} (drop them with --drop-old)."
            )
        else:
            self.stdout.write(
                f"Dry run (total {result.seconds:.1f}s; the comparison held writes back "
                f"{result.share_seconds:.3f}s): nothing swapped; the rebuilt tables are "
                f"{', '.join(SHADOW_TABLES)} (dropped by --drop-old or the next run)."
            )
