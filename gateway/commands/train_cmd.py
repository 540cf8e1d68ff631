"""`inbox311 train`: train the report classifier from a labelled CSV or from the ticket history, and save it.

    inbox311 train --data training/train.csv --out rules/model
    inbox311 train --from-db --out /var/lib/inbox311/model     (then set [rules] model to that directory)

Training is reproducible: the same data and `--seed` give the same model.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from gateway.settings import ConfigError, Settings
from rules.dataset import read_labelled_csv
from rules.textcat import (
    CONTENT_WORDS,
    DEFAULT_EPOCHS,
    DEFAULT_SEED,
    TrainingParams,
    model_text,
    save_model,
    train_textcat,
)


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = sub.add_parser("train", help="train the report classifier")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        metavar="FILE.csv",
        action="append",
        type=Path,
        help="labelled CSV (columns text, category; optional subject, source); repeatable",
    )
    source.add_argument("--from-db", action="store_true", help="train on the categorised tickets in the database")
    parser.add_argument("--source", action="append", default=[], help="only --data rows from this source (repeatable)")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="directory to write the model to")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--language", default=None, help="spaCy language code (default: the rules file's)")
    add_config(parser)
    parser.set_defaults(func=_train)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _examples(args: argparse.Namespace, settings: Settings, language: str) -> tuple[list[tuple[str, str]], str]:
    if args.from_db:
        from storage.db import Database
        from storage.training import load_labelled_texts

        async with Database(settings.database.url) as database, database.read() as session:
            rows = await load_labelled_texts(session=session)
        return [(model_text("", text, language), category) for text, category in rows], "database"
    examples: list[tuple[str, str]] = []
    for path in args.data:
        try:
            reports = read_labelled_csv(path, sources=args.source)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--data {path}: {exc}") from None
        examples.extend((model_text(r.subject, r.text, language), r.category) for r in reports)
    return examples, ", ".join(p.name for p in args.data)


def _language(args: argparse.Namespace, settings: Settings) -> str:
    if args.language:
        return args.language
    from rules.loader import load_rules

    return load_rules(settings.rules.file or None).language


async def _train(args: argparse.Namespace, settings: Settings) -> int:
    language = _language(args, settings)
    examples, source = await _examples(args, settings, language)
    counts = Counter(label for _, label in examples)
    if len(counts) < 2:
        _log(f"inbox311 train: need labelled reports of at least two categories, found {len(counts)}")
        return 1
    params = TrainingParams(seed=args.seed, epochs=args.epochs, language=language)
    _log(
        f"training on {len(examples)} reports from {source}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common())
    )
    started = time.monotonic()
    logging.getLogger("spacy").setLevel(logging.WARNING)  # its per-step INFO lines say nothing useful here
    nlp = train_textcat(examples, params, log=_log)
    digest = hashlib.sha256("\n".join(f"{label}\t{text}" for text, label in examples).encode()).hexdigest()
    info = {
        "source": source,
        "examples": len(examples),
        "per_category": dict(sorted(counts.items())),
        "data_sha256": digest,
        "seed": params.seed,
        "epochs": params.epochs,
        "ngram_size": params.ngram_size,
        "table_size": params.table_size,
        "min_per_label": params.min_per_label,
        "text": CONTENT_WORDS,
    }
    path = save_model(nlp, args.out, info=info)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    _log(f"model written to {path} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.1f} s")
    return 0
