"""A second, linear opinion on the intent, averaged with DIET's (a Rasa graph component).

DIET learns dense representations from few thousand examples; a logistic regression over TF-IDF
word and character n-grams of the *normalised* text (bot.arabic) is more literal and makes
different mistakes, which is what an average needs. Measured on the held-out sets with
`bench/nlu_report.py` (see the README's NLU section for the figures).

Placed after DIETClassifier and before FallbackClassifier in config.yml: it reads DIET's
`intent_ranking`, combines ``diet_weight * DIET + (1 - diet_weight) * linear`` per intent, and
writes `intent` / `intent_ranking` back, so the fallback threshold applies to the combined
confidence. Persisted without pickle: vocabularies as JSON, weights in an .npz read with
``allow_pickle=False``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from bot.arabic import normalise
from bot.request_rules import OPINIONS_KEY

log = logging.getLogger(__name__)

VOCAB_FILE = "vocabularies.json"
WEIGHTS_FILE = "weights.npz"


def _prepare(text: str) -> str:
    return normalise(text).lower()


def _vectorizers(config: dict[str, Any]) -> list[TfidfVectorizer]:
    return [
        TfidfVectorizer(analyzer="word", ngram_range=tuple(config["word_ngrams"]), sublinear_tf=True,
                        token_pattern=r"(?u)\b\w+\b", min_df=config["word_min_df"], dtype=np.float32),
        TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(config["char_ngrams"]), sublinear_tf=True,
                        min_df=config["char_min_df"], dtype=np.float32),
    ]


def tfidf(vectorizer: TfidfVectorizer, idf: np.ndarray, texts: list[str]) -> sparse.csr_matrix:
    """`vectorizer.transform(texts)` for a fitted vectorizer whose idf is `idf`, without scipy's
    product by the idf diagonal, whose set-up is as long as the vocabulary (0.2 ms of the 0.25 ms
    a vectorizer took per message, issue 14): the counts, their sublinear tf, each times its
    column's idf (in the type that product has), each row scaled to unit length by sklearn.
    Equal to sklearn's up to the last bits of a row's norm: the product leaves a row's entries
    in another order, so the squares are summed in another order (tests/nlu: within 1e-12)."""
    X = CountVectorizer.transform(vectorizer, texts)
    if vectorizer.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1
    data = X.data.astype(np.result_type(X.dtype, idf.dtype)) * idf[X.indices]  # the product's type
    X = sparse.csr_matrix((data, X.indices, X.indptr), shape=X.shape)
    return normalize(X, norm=vectorizer.norm, copy=False) if vectorizer.norm else X


def _first(probabilities: dict[str, float]) -> dict[str, Any]:
    """A model's likeliest intent, in a ranking's shape."""
    name = max(probabilities, key=probabilities.__getitem__)
    return {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: float(probabilities[name])}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentEnsemble(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "diet_weight": 0.6,  # share of DIET in the combined confidence
            "C": 20.0,  # inverse regularisation of the logistic regression
            "word_ngrams": [1, 2],
            "word_min_df": 1,
            "char_ngrams": [2, 5],
            "char_min_df": 2,
            "ranking_length": 10,
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 vectorizers: list[TfidfVectorizer] | None = None, classifier: LogisticRegression | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.vectorizers = vectorizers or []
        self.classifier = classifier

    @property
    def vectorizers(self) -> list[TfidfVectorizer]:
        return self._vectorizers

    @vectorizers.setter
    def vectorizers(self, value: list[TfidfVectorizer]) -> None:
        self._vectorizers = value
        self._idf: list[np.ndarray] | None = None  # each one's idf, read once fitted (sklearn sums its diagonal to give it)

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> IntentEnsemble:
        return cls(config, model_storage, resource)

    # -- training -------------------------------------------------------------------------
    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        if len({m.get(INTENT) for m in examples}) < 2:
            log.debug("IntentEnsemble: fewer than two intents, nothing to learn")
            return self._resource
        texts = [_prepare(m.get(TEXT)) for m in examples]
        self.vectorizers = _vectorizers(self.config)
        X = sparse.hstack([v.fit_transform(texts) for v in self.vectorizers]).tocsr()
        self.classifier = LogisticRegression(C=self.config["C"], max_iter=5000)
        self.classifier.fit(X, [m.get(INTENT) for m in examples])
        self._persist()
        return self._resource

    def _persist(self) -> None:
        assert self.classifier is not None
        with self._model_storage.write_to(self._resource) as directory:
            vocab = [{k: int(i) for k, i in v.vocabulary_.items()} for v in self.vectorizers]
            (directory / VOCAB_FILE).write_text(json.dumps({"vocabularies": vocab, "classes": list(self.classifier.classes_)},
                                                           ensure_ascii=False))
            arrays = {f"idf{i}": v.idf_.astype(np.float32) for i, v in enumerate(self.vectorizers)}
            np.savez_compressed(directory / WEIGHTS_FILE, coef=self.classifier.coef_.astype(np.float32),
                                intercept=self.classifier.intercept_.astype(np.float32), **arrays)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> IntentEnsemble:
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / VOCAB_FILE).read_text())
                with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as weights:
                    vectorizers = _vectorizers(component.config)
                    for i, (v, vocab) in enumerate(zip(vectorizers, meta["vocabularies"])):
                        v.vocabulary_ = vocab
                        v.idf_ = weights[f"idf{i}"]  # the setter rebuilds the idf diagonal
                    classifier = LogisticRegression()
                    classifier.classes_ = np.array(meta["classes"])
                    # Column-major, so that coef_.T (what predict_proba multiplies the sparse
                    # features by) is row-major: scipy otherwise copies the 11 MB matrix on
                    # every message (1.5 ms against 0.01 ms, issue 14).
                    classifier.coef_ = np.asfortranarray(weights["coef"], dtype=np.float64)
                    classifier.intercept_ = weights["intercept"].astype(np.float64)
        except (ValueError, FileNotFoundError):
            log.debug("IntentEnsemble: no trained weights in the model; DIET's ranking is kept as is")
            return component
        component.vectorizers, component.classifier = vectorizers, classifier
        return component

    # -- inference ------------------------------------------------------------------------
    def linear_probabilities(self, texts: list[str]) -> list[dict[str, float]]:
        assert self.classifier is not None
        prepared = [_prepare(t) for t in texts]
        if self._idf is None:
            self._idf = [v.idf_ for v in self.vectorizers]
        X = sparse.hstack([tfidf(v, idf, prepared) for v, idf in zip(self.vectorizers, self._idf)]).tocsr()
        classes = list(self.classifier.classes_)
        return [dict(zip(classes, row.tolist())) for row in self.classifier.predict_proba(X)]

    def process(self, messages: list[Message]) -> list[Message]:
        if self.classifier is None:
            return messages
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return messages
        w = float(self.config["diet_weight"])
        for message, linear in zip(todo, self.linear_probabilities([m.get(TEXT) for m in todo])):
            diet = {r[INTENT_NAME_KEY]: r[PREDICTED_CONFIDENCE_KEY] for r in message.get(INTENT_RANKING_KEY) or []}
            w_here = w if diet else 0.0  # no DIET opinion (DIET removed from the pipeline): the linear one alone
            names = set(linear) | set(diet)
            combined = {n: w_here * diet.get(n, 0.0) + (1 - w_here) * linear.get(n, 0.0) for n in names}
            ranking = sorted(({INTENT_NAME_KEY: n, PREDICTED_CONFIDENCE_KEY: float(c)} for n, c in combined.items()),
                             key=lambda r: -r[PREDICTED_CONFIDENCE_KEY])
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking[: self.config["ranking_length"]], add_to_output=True)
            if diet:
                # Each model's own first choice: where they name different request types, the type
                # is asked (bot.request_rules.unsure_types), however sure the average looks.
                message.set(OPINIONS_KEY, {"diet": _first(diet), "linear": _first(linear)}, add_to_output=True)
        return messages
