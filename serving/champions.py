"""Which model versions the service answers with, and how it follows the ``champion`` alias.

At start-up every family's ``champion`` alias is resolved to a version number and that exact
version is loaded (``models:/NAME/VERSION``, so the alias cannot move between the two steps).
Afterwards a background thread asks the registry every ``poll_seconds`` where the alias points;
when it has moved, the new version is loaded *beside* the old one, and only then does the
service swap one reference. A request reads that reference once and uses the models it got for
its whole life, so every request is answered entirely by one version and none is dropped.

Loading a version also prepares what the request path needs (index arrays, JSON-safe profiles),
so requests do arithmetic on arrays and never build a DataFrame.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from features import CUSTOMER_FEATURES
from mercato.names import CHAMPION as ALIAS
from mercato.settings import Settings

logger = logging.getLogger("mercato.serving")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def plain(value: Any) -> Any:
    """NumPy scalars and arrays (and nested containers) -> JSON-ready Python values."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class LoadedModel:
    """One loaded version of one registered model, with what requests need prepared."""

    name: str
    version: str
    model: Any
    loaded_at: str
    #: model-specific arrays and lookups built once at load time (see ``prepare``)
    prepared: dict[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """Small facts for ``model_info``: the algorithm, and what the family's API prepared."""
        out: dict[str, Any] = {}
        if hasattr(self.model, "algorithm"):
            out["algorithm"] = plain(self.model.algorithm)
        if "feature_names" in self.prepared:
            out["feature_names"] = list(self.prepared["feature_names"])
        out.update(self.prepared.get("details", {}))
        return out


def customer_feature_columns(name: str, model: Any) -> dict[str, Any]:
    """``feature_names`` and the ``columns`` of a ``CUSTOMER_FEATURES`` row a model reads.

    Raises ``TypeError`` when the model needs a feature serving does not read online.
    """
    names = list(getattr(model, "feature_names", None) or CUSTOMER_FEATURES)
    unknown = [f for f in names if f not in CUSTOMER_FEATURES]
    if unknown:
        raise TypeError(f"{name} needs features serving does not know: {unknown}")
    columns = np.array([CUSTOMER_FEATURES.index(f) for f in names], dtype=np.intp)
    return {"feature_names": names, "columns": columns}


Preparer = Callable[[str, Any], dict[str, Any]]


def prepare_by_api(settings: Settings) -> tuple[tuple[str, ...], Preparer]:
    """(registered model names, a preparer) from every family's API module.

    The preparer checks a model against its API's ``REQUIRES`` and runs its ``prepare``;
    ``TypeError`` means the version must not be swapped in.
    """
    from serving.apis import family_apis

    apis = {api.model_name: api for api in family_apis(settings) if api.model_name}

    def prepare(name: str, model: Any) -> dict[str, Any]:
        api = apis[name]
        missing = [attr for attr in api.requires if not hasattr(model, attr)]
        if missing:
            raise TypeError(f"{name} model {type(model).__name__} lacks {', '.join(missing)}")
        return dict(api.prepare(model)) if api.prepare else {}

    return tuple(apis), prepare


@dataclass(frozen=True)
class Champions:
    """An immutable set of the models serving answers with; swapped whole, never edited."""

    models: dict[str, LoadedModel | None]
    checked_at: str | None = None

    def get(self, name: str) -> LoadedModel | None:
        return self.models.get(name)


Loader = Callable[[str, str], Any]
Resolver = Callable[[str], "str | None"]


class ChampionTracker:
    """Holds the current champions and keeps them in step with the registry alias.

    ``resolve(name) -> version | None`` and ``load(name, version) -> model`` default to the
    MLflow registry at ``settings.tracking_uri`` (through ``models.registry``, the one module
    that reads aliases and versions); tests may pass others. ``names`` and ``prepare`` default
    to every family's registered model and API module (``serving.apis``).
    """

    def __init__(
        self,
        settings: Settings,
        poll_seconds: float = 30.0,
        resolve: Resolver | None = None,
        load: Loader | None = None,
        names: tuple[str, ...] | None = None,
        prepare: Preparer | None = None,
    ) -> None:
        self.settings = settings
        self.poll_seconds = poll_seconds
        if names is None or prepare is None:
            api_names, api_prepare = prepare_by_api(settings)
            names = api_names if names is None else names
            prepare = api_prepare if prepare is None else prepare
        self.names = names
        self._prepare = prepare
        self._resolve = resolve or self._registry_resolve
        self._load = load or self._registry_load
        self._swap_lock = threading.Lock()  # one refresh at a time; readers never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current = Champions(models={n: None for n in names})
        self.swaps: list[tuple[str, str | None, str]] = []  # (name, old, new), for model_info
        self._suppression_stamp: int | None = None  # the suppression list last applied
        #: called with the swaps of a refresh that made any, after the new set is served
        self.on_swap: list[Callable[[list[tuple[str, str | None, str]]], None]] = []

    # -- registry access ----------------------------------------------------------------------
    def _registry_resolve(self, name: str) -> str | None:
        """The version ``champion`` points to; None before the first training (errors raise)."""
        from models import registry

        return registry.champion_version(self.settings, name)

    def _registry_load(self, name: str, version: str) -> Any:
        from models import registry

        return registry.load_version(self.settings, name, version)

    # -- loading and swapping -----------------------------------------------------------------
    def load_version(self, name: str, version: str) -> LoadedModel:
        """Load and prepare one version (does not serve it)."""
        model = self._load(name, version)
        return LoadedModel(
            name=name,
            version=str(version),
            model=model,
            loaded_at=_now(),
            prepared=self._prepare(name, model),
        )

    def refresh(self) -> list[tuple[str, str | None, str]]:
        """Check every alias once; load and swap in the versions that moved.

        Returns the swaps made, as (name, old version, new version). A version that fails to
        load leaves the old one serving (and is tried again on the next check); an alias that
        disappears leaves the last champion serving.
        """
        made: list[tuple[str, str | None, str]] = []
        with self._swap_lock:
            current = self.current
            updated = dict(current.models)
            for name in self.names:
                try:
                    target = self._resolve(name)
                except Exception:  # noqa: BLE001 - registry briefly unreachable: keep serving
                    logger.exception(
                        "could not resolve %s@%s; keeping the served version", name, ALIAS
                    )
                    continue
                served = current.get(name)
                if target is None:
                    if served is not None:
                        logger.warning(
                            "%s has no %s any more; still serving v%s", name, ALIAS, served.version
                        )
                    continue
                if served is not None and served.version == target:
                    continue
                try:
                    loaded = self.load_version(name, target)
                except Exception:  # noqa: BLE001 - a broken version must not stop the service
                    logger.exception(
                        "could not load %s v%s; keeping the served version", name, target
                    )
                    continue
                updated[name] = loaded
                made.append((name, served.version if served else None, target))
            # The one write readers see: a new, complete Champions object.
            self.current = Champions(models=updated, checked_at=_now())
            self._follow_suppressions()
            for swap in made:
                logger.info("now serving %s v%s (was %s)", swap[0], swap[2], swap[1] or "nothing")
            self.swaps.extend(made)
            if made:
                for listener in self.on_swap:
                    try:
                        listener(made)
                    except Exception:  # noqa: BLE001 - the new models already serve
                        logger.exception("a swap listener failed")
        return made

    # -- background following -----------------------------------------------------------------
    def start_polling(self) -> None:
        """Follow the alias in a daemon thread every ``poll_seconds`` (0 or less: never)."""
        if self.poll_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll, name="champion-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the poller must outlive any one failure
                logger.exception("champion check failed")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following the alias (the served models stay)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _follow_suppressions(self) -> None:
        """Apply the suppression list to the served models when it changed (checked with every
        alias check): a ``mercato forget`` that could not reach the service still takes effect
        within ``poll_seconds``. Called under the swap lock."""
        from mercato.privacy import suppression_path
        from models.forgetting import suppressed_matcher

        try:
            stamp = suppression_path(self.settings.home).stat().st_mtime_ns
        except OSError:
            return
        if stamp == self._suppression_stamp:
            return
        self._suppression_stamp = stamp
        match = suppressed_matcher(self.settings)
        if match is not None:
            self._forget_served(match)

    def _forget_served(self, match: Callable[[str], bool]) -> int:
        from models.forgetting import forget_in_model

        return sum(
            forget_in_model(loaded.model, match)
            for loaded in self.current.models.values()
            if loaded is not None
        )

    def forget(self, match: Callable[[str], bool]) -> int:
        """Drop matching customers from every served model's lookups now (``mercato forget``).

        Versions loaded later drop them when loaded (``models.registry.load_version``).
        """
        with self._swap_lock:
            return self._forget_served(match)

    def served_versions(self) -> dict[str, str | None]:
        current = self.current
        return {n: (m.version if (m := current.get(n)) else None) for n in self.names}
