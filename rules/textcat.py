"""The text classifier: a blank spaCy pipeline with one bag-of-words `textcat`, trained, saved and loaded here.

Bag-of-words (words hashed into a fixed table) keeps the model a few MB and fast: thousands of
reports a second on one core. Training is reproducible: a fixed seed fixes the initial weights and the order
of the examples, so the same data gives the same model. Texts go through `model_text` in training and in use.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rules.contentwords import content_words
from rules.formtext import resident_words

if TYPE_CHECKING:  # spaCy is imported where a model is built or loaded, so `model_text` stays cheap to import
    from spacy.language import Language

MODEL_TEXT_CHARS = 2000  # the opening of a report says what it is about; long mails only cost time
DEFAULT_SEED = 311
DEFAULT_EPOCHS = 12


@dataclass(frozen=True, slots=True)
class TrainingParams:
    seed: int = DEFAULT_SEED
    epochs: int = DEFAULT_EPOCHS
    dropout: float = 0.2
    ngram_size: int = 1  # bigrams measured worse on the corpus: too few reports to see each pair often
    table_size: int = 2**15  # hashed features per label: sets the model's size (x labels x 4 bytes)
    min_per_label: int = 200  # rarer labels are repeated up to this many examples so they are not drowned out
    language: str = "en"


CONTENT_WORDS = "content words (rules.contentwords)"  # how a model reads, as its meta.json records it


def model_text(subject: str, body: str, language: str = "en") -> str:
    """What the model reads: the subject and the resident's words of the body (`rules.formtext`), as content
    words (`rules.contentwords`: lower case, no links, digits folded, no stop words)."""
    return content_words(_report_text(subject, body), language)


def lowercase_model_text(subject: str, body: str, language: str = "en") -> str:
    """What a model trained before content words read: the same words, only lower-cased."""
    return _report_text(subject, body).lower()


def model_text_of(nlp: Language) -> Callable[[str, str, str], str]:
    """How this model was trained to read: a city's model trained before content words keeps reading as it did."""
    info = nlp.meta.get("inbox311", {})
    return model_text if info.get("text") == CONTENT_WORDS else lowercase_model_text


def _report_text(subject: str, body: str) -> str:
    body = resident_words(body[: MODEL_TEXT_CHARS * 2])
    text = f"{subject}\n{body}" if subject else body
    return text[:MODEL_TEXT_CHARS]


def shipped_model_dir() -> Path:
    return Path(str(resources.files("rules").joinpath("model")))


def new_pipeline(labels: Sequence[str], params: TrainingParams) -> Language:
    import spacy

    nlp = spacy.blank(params.language)
    nlp.meta["inbox311"] = {"text": CONTENT_WORDS}  # what its training texts are (callers pass `model_text`)
    textcat = nlp.add_pipe(
        "textcat",
        config={
            "model": {
                "@architectures": "spacy.TextCatBOW.v3",
                "exclusive_classes": True,
                "ngram_size": params.ngram_size,
                "no_output_layer": False,
                "length": params.table_size,
            }
        },
    )
    for label in sorted(labels):
        textcat.add_label(label)
    return nlp


def _balanced(examples: Sequence[tuple[str, str]], minimum: int, rng: random.Random) -> list[tuple[str, str]]:
    counts = Counter(label for _, label in examples)
    out = list(examples)
    for label, count in sorted(counts.items()):
        if count < minimum:
            pool = [e for e in examples if e[1] == label]
            out.extend(rng.choice(pool) for _ in range(minimum - count))
    return out


def train_textcat(
    examples: Sequence[tuple[str, str]],
    params: TrainingParams = TrainingParams(),
    log: Callable[[str], None] | None = None,
) -> Language:
    """Train on (text, label) pairs; `text` is already `model_text(...)`. Needs at least two labels.

    Pairs whose text has no letters or digits (a form with no free-text answer) teach nothing and are skipped.
    """
    from spacy.training import Example
    from spacy.util import compounding, fix_random_seed, minibatch

    examples = [(text, label) for text, label in examples if any(c.isalnum() for c in text)]
    labels = sorted({label for _, label in examples})
    if len(labels) < 2:
        raise ValueError("training needs examples of at least two categories")
    fix_random_seed(params.seed)
    rng = random.Random(params.seed)
    nlp = new_pipeline(labels, params)
    data = _balanced(examples, params.min_per_label, rng)
    train = [
        Example.from_dict(nlp.make_doc(text), {"cats": {lab: float(lab == label) for lab in labels}})
        for text, label in data
    ]
    optimizer = nlp.initialize(lambda: train[:500])
    for epoch in range(params.epochs):
        rng.shuffle(train)
        losses: dict[str, float] = {}
        for batch in minibatch(train, size=compounding(8.0, 64.0, 1.2)):
            nlp.update(batch, sgd=optimizer, drop=params.dropout, losses=losses)
        if log is not None:
            log(f"epoch {epoch + 1}/{params.epochs}: loss {losses.get('textcat', 0.0):.3f}")
    return nlp


def save_model(nlp: Language, out_dir: str | Path, *, info: dict[str, Any]) -> Path:
    """Write the pipeline; `info` (data counts, seed, source) goes into meta.json for whoever ships it."""
    path = Path(out_dir)
    nlp.meta["name"] = "inbox311_textcat"
    nlp.meta["version"] = "1.0.0"
    nlp.meta["description"] = "Inbox311 report category classifier (bag-of-words textcat)"
    nlp.meta["inbox311"] = {**nlp.meta.get("inbox311", {}), **info}
    nlp.to_disk(path)
    return path


def load_model(model_dir: str | Path | None = None) -> Language:
    """Load a trained model directory (the shipped one when None). Raises FileNotFoundError or ValueError."""
    path = Path(model_dir) if model_dir else shipped_model_dir()
    if not (path / "meta.json").is_file():
        raise FileNotFoundError(f"model directory {path}: no meta.json (train one with `inbox311 train`)")
    import spacy

    nlp = spacy.load(path)
    if "textcat" not in nlp.pipe_names:
        raise ValueError(f"model directory {path}: has no textcat component")
    return nlp


def model_labels(nlp: Language) -> tuple[str, ...]:
    return tuple(nlp.get_pipe("textcat").labels)
