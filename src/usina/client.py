"""``Client``: one handle on a usina installation, the way every edge talks to it."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from usina.artifacts import ArtifactStore, open_artifact_store, put_bytes, read_bytes
from usina.connection import ServerConnection
from usina.crypto.keys import KeyProvider
from usina.errors import InvalidInput
from usina.registry import (
    AliasChange,
    ModelVersion,
    RegistryStore,
    dump_model,
    infer_signature,
    load_model_bytes,
    parse_model_uri,
)
from usina.registry.formats import class_name
from usina.registry.signature import Signature
from usina.store import Database
from usina.stores import HTTP, Installation, kind_of
from usina.tracking import ActiveRun, Run, TrackingStore

if TYPE_CHECKING:
    from usina.audit import AuditReader
    from usina.batch.base import BatchJobStore
    from usina.datasets.base import DatasetStore
    from usina.identity import IdentityStore
    from usina.monitoring import Summary
    from usina.monitoring.base import AlertStore
    from usina.monitoring.labels import LabelStore
    from usina.monitoring.monitors import MonitorStore
    from usina.pipelines.base import PipelineStore, SchedulerStore
    from usina.policies.base import EventStore, PolicyStore
    from usina.privacy.keys import PiiKey
    from usina.secrets.base import SecretStore
    from usina.serving import EndpointStore
    from usina.settings import Settings
    from usina.topics.base import TopicStore


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from: its run (params, metrics) and the run's datasets."""

    version: ModelVersion
    run: Run | None


class Client:
    """Tracking, the registry, pipelines, schedules, endpoints, the audit log and artifacts: on a
    database and an artifact store, or on a server.

    ``Client(db_url, artifacts)`` works on the metadata database and artifact store directly;
    ``Client("http://host:port")`` does the same through a usina server, sending ``token``
    (from ``usina auth login`` or ``usina tokens create``) as its bearer token and checking
    an ``https://`` server's certificate (against ``ca_bundle`` when given). With ``keys``
    (a master key ring), artifacts and secrets are stored encrypted. ``pii_key`` (a
    ``usina.pii.PiiKey``, or a function returning one) keys the PII operators of a dataset's
    policy when this client writes a version. Every method behaves
    the same either way: each resource's store is chosen from ``usina.stores.STORES``.

    Example:
        >>> client = Client("sqlite://", "memory://")
        >>> with client.start_run(experiment="demo") as run:
        ...     run.log_metric("auc", 0.9)
        >>> client.tracking.get_run(run.id).metrics
        {'auc': 0.9}
    """

    def __init__(
        self,
        target: str,
        artifacts: str | ArtifactStore | None = None,
        *,
        actor: str = "local",
        heartbeat_timeout: float = 60.0,
        token: str | None = None,
        topics: str | None = None,
        keys: KeyProvider | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        pii_key: PiiKey | Callable[[], PiiKey | None] | None = None,
    ) -> None:
        self.actor = actor
        self._pii_key = pii_key
        kind = kind_of(target)
        self.db: Database | None = None
        self.server: ServerConnection | None = None
        if kind == HTTP:
            if artifacts is not None:
                raise InvalidInput(
                    "a client of a usina server uses the server's artifact store; "
                    "give only the URL, as Client('http://host:port')",
                    field="artifacts",
                )
            from usina.artifacts.http import HttpArtifactStore

            # One connection for every store of the client, the artifact store's included.
            self.server = ServerConnection(target, actor=actor, token=token, ca_bundle=ca_bundle)
            artifacts = HttpArtifactStore(self.server)
        elif artifacts is None:
            raise InvalidInput(
                f"give an artifact store with the database URL {target!r}, as "
                "Client(db_url, artifacts), or a server URL, as Client('http://host:port')",
                field="artifacts",
            )
        else:
            self.db = Database(target)
        self.artifacts: ArtifactStore = (
            open_artifact_store(artifacts, keys) if isinstance(artifacts, str) else artifacts
        )
        # Through a server, the server encrypts with its own keys.
        self.installation = Installation(
            kind,
            self.artifacts,
            actor,
            heartbeat_timeout,
            db=self.db,
            server=self.server,
            topics_url=topics,
            keys=keys if kind != HTTP else None,
        )

    @property
    def tracking(self) -> TrackingStore:
        """Experiments and runs (``usina.tracking.TrackingStore``)."""
        found: TrackingStore = self.installation.store("tracking")
        return found

    @property
    def registry(self) -> RegistryStore:
        """Models, versions and aliases (``usina.registry.RegistryStore``)."""
        found: RegistryStore = self.installation.store("registry")
        return found

    @property
    def endpoints(self) -> EndpointStore:
        """Online endpoints (``usina.serving.EndpointStore``); the serving package is imported
        on first use."""
        found: EndpointStore = self.installation.store("endpoints")
        return found

    @property
    def pipelines(self) -> PipelineStore:
        """Pipeline runs, step runs and lineage links (``usina.pipelines.PipelineStore``)."""
        found: PipelineStore = self.installation.store("pipelines")
        return found

    @property
    def schedules(self) -> SchedulerStore:
        """Schedules and the scheduler's lease (``usina.pipelines.SchedulerStore``)."""
        found: SchedulerStore = self.installation.store("schedules")
        return found

    @property
    def audit(self) -> AuditReader:
        """The audit log (``usina.audit.AuditReader``): list and verify. On the database it is
        a ``SqlAuditStore``, which also appends; through a server it is read-only."""
        found: AuditReader = self.installation.store("audit")
        return found

    @property
    def identity(self) -> IdentityStore:
        """Users, groups, service accounts, roles, bindings and tokens
        (``usina.identity.IdentityStore``)."""
        found: IdentityStore = self.installation.store("identity")
        return found

    @property
    def alerts(self) -> AlertStore:
        """Alerts raised by monitors and their deliveries (``usina.monitoring.base.AlertStore``);
        ``usina.monitoring.alerter.Alerter`` turns check results into them."""
        found: AlertStore = self.installation.store("alerts")
        return found

    @property
    def labels(self) -> LabelStore:
        """Late labels of endpoints' logged requests (``usina.monitoring.labels.LabelStore``)."""
        found: LabelStore = self.installation.store("labels")
        return found

    @property
    def monitors(self) -> MonitorStore:
        """Monitors of endpoints and the record of their runs
        (``usina.monitoring.monitors.MonitorStore``)."""
        found: MonitorStore = self.installation.store("monitors")
        return found

    @property
    def batch(self) -> BatchJobStore:
        """Runs of batch prediction jobs (``usina.batch.base.BatchJobStore``); ``usina.batch.run``
        scores and records them."""
        found: BatchJobStore = self.installation.store("batch")
        return found

    @property
    def topics(self) -> TopicStore:
        """Topics and their messages (``usina.topics.base.TopicStore``): on the database and the
        topic log ``topics`` names (``topics.db`` beside a SQLite database by default), or
        through a server, on the server's log."""
        found: TopicStore = self.installation.store("topics")
        return found

    @property
    def secrets(self) -> SecretStore:
        """Named secrets, stored encrypted (``usina.secrets.base.SecretStore``)."""
        found: SecretStore = self.installation.store("secrets")
        return found

    @property
    def datasets(self) -> DatasetStore:
        """Datasets, their versions and expectations (``usina.datasets.base.DatasetStore``);
        ``usina.datasets.ingest`` and ``save`` write versions."""
        found: DatasetStore = self.installation.store("datasets")
        return found

    @property
    def pii_key(self) -> PiiKey | None:
        """The key of keyed PII operators (token, encrypt, surrogate), or None: loaded on
        first use, so a malformed ``USINA_PII_KEY`` troubles only what needs it."""
        if callable(self._pii_key):
            self._pii_key = self._pii_key()
        return self._pii_key

    @property
    def policies(self) -> PolicyStore:
        """Policies (retrain, gate, canary, promote, roll back) and where each loop stands
        (``usina.policies.base.PolicyStore``)."""
        found: PolicyStore = self.installation.store("policies")
        return found

    @property
    def events(self) -> EventStore:
        """The record of the policies' decisions (``usina.policies.base.EventStore``)."""
        found: EventStore = self.installation.store("events")
        return found

    @classmethod
    def from_settings(cls, settings: Settings) -> Client:
        """A client for the installation ``settings`` describe (a server when ``url`` is set)."""
        # The PII key is the caller's, with or without a server: a dataset's policy is applied
        # where the data is read, before the version's file is written.
        pii_key = functools.partial(_settings_pii_key, settings)
        if settings.url:
            return cls(
                settings.url,
                actor=settings.actor,
                heartbeat_timeout=settings.heartbeat_timeout,
                token=settings.token,
                ca_bundle=settings.ca_bundle,
                pii_key=pii_key,
            )
        return cls(
            settings.resolved_db_url(),
            settings.resolved_artifacts(),
            actor=settings.actor,
            heartbeat_timeout=settings.heartbeat_timeout,
            topics=settings.resolved_topics_url(),
            keys=settings.key_ring(),
            pii_key=pii_key,
        )

    # -- tracking -------------------------------------------------------------------------

    def start_run(
        self,
        experiment: str = "default",
        name: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> ActiveRun:
        """Start a run; use it as a context manager so it ends (failed on an exception)."""
        created = self.tracking.create_run(experiment, name, params=params, tags=tags)
        return ActiveRun(self.tracking, self.artifacts, created)

    # -- registry -------------------------------------------------------------------------

    def register_model(
        self,
        model: Any,
        name: str,
        *,
        run: ActiveRun | str | None = None,
        input_example: Any = None,
        metrics: dict[str, float] | None = None,
        description: str = "",
        trusted: bool = False,
        reference: Any = None,
    ) -> ModelVersion:
        """Store ``model`` and register it as the next version of ``name``.

        The artifact is written first (atomically, under its digest); the version row is
        inserted afterwards in one transaction, so a crash leaves at worst an unreferenced blob.

        Args:
            model: a scikit-learn estimator or pipeline, a LightGBM or XGBoost model, or (with
                ``trusted=True``) any picklable object.
            name: the registered model's name.
            run: the run that produced it; its latest metrics are copied to the version.
                Inside a pipeline step run by this client, the step's run by default, so the
                version's lineage reaches the step's input datasets.
            input_example: a few rows of input, from which the signature is inferred.
            metrics: metrics to record on the version (override the run's).
            description: free text shown with the version.
            trusted: allow a pickle for objects no safe format covers.
            reference: the data the version was trained or validated on (a DataFrame or an
                Arrow table): its summary, with the model's predictions on it, is stored with
                the version as the reference monitors compare live traffic with.
        """
        signature = infer_signature(input_example) if input_example is not None else Signature()
        run_id: str | None = None
        version_metrics: dict[str, float] = {}
        if run is None:
            # Imported here: the pipelines package (numpy and the runner) is not needed to
            # open a client, and the CLI opens one for every command.
            from usina.pipelines.step_context import current_step

            step = current_step()
            if step is not None and step.backend is self:
                run = step.run_id
        if run is not None:
            if isinstance(run, ActiveRun):
                run.flush()
                run_id = run.id
            else:
                run_id = run
            version_metrics.update(self.tracking.get_run(run_id).metrics)
        version_metrics.update({k: float(v) for k, v in (metrics or {}).items()})
        fmt, data = dump_model(model, trusted=trusted)
        blob = put_bytes(self.artifacts, data)
        summary = None
        if reference is not None:  # summarised first: bad data registers no version
            from usina.monitoring.references import reference_of

            summary = reference_of(reference, model)
        version = self.registry.create_version(
            name,
            digest=blob.digest,
            size=blob.size,
            format=fmt,
            model_class=class_name(model),
            signature=signature,
            metrics=version_metrics,
            run_id=run_id,
            description=description,
        )
        if summary is not None:
            from usina.monitoring.references import save_reference

            save_reference(self.artifacts, name, version.version, summary)
        return version

    def set_reference(self, uri: str, data: Any, *, trusted: bool = False) -> Summary:
        """Summarise ``data`` (with the model's predictions on it) as the reference of the
        version ``uri`` points at, replacing any earlier one; returns the summary."""
        from usina.monitoring.references import reference_of, save_reference

        version = self.get_version(uri)
        model = self.load_model(f"models:/{version.name}/{version.version}", trusted=trusted)
        summary = reference_of(data, model)
        save_reference(self.artifacts, version.name, version.version, summary)
        return summary

    def get_reference(self, uri: str) -> Summary | None:
        """The reference summary of the version ``uri`` points at (``None``: it has none)."""
        from usina.monitoring.references import load_reference

        version = self.get_version(uri)
        return load_reference(self.artifacts, version.name, version.version)

    def get_version(self, uri: str) -> ModelVersion:
        """The version ``uri`` points at (``models:/name@alias``, ``/N`` or latest)."""
        return self.registry.resolve(parse_model_uri(uri))

    def load_model(self, uri: str, *, trusted: bool = False) -> Any:
        """Load the model ``uri`` points at, after verifying its SHA-256 digest."""
        version = self.get_version(uri)
        data = read_bytes(self.artifacts, version.digest)
        return load_model_bytes(data, version.format, version.model_class, trusted=trusted)

    def set_alias(self, name: str, alias: str, version: int, reason: str = "") -> AliasChange:
        """Point ``alias`` of ``name`` at ``version``; the move is kept in the history."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidInput(f"version {version!r} is not a positive integer", field="version")
        return self.registry.set_alias(name, alias, version, reason)

    def rollback(self, name: str, alias: str = "champion", reason: str = "") -> AliasChange:
        """Move ``alias`` back to the version it pointed at before its current one."""
        return self.registry.rollback(name, alias, reason)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Every move of the model's aliases (or of one alias), oldest first."""
        return self.registry.alias_history(name, alias)

    def lineage(self, uri: str) -> Lineage:
        """The version, and the run with its params, metrics and dataset digests."""
        version = self.get_version(uri)
        run = self.tracking.get_run(version.run_id) if version.run_id else None
        return Lineage(version, run)

    def download_artifact(self, digest: str) -> bytes:
        """The bytes of a stored blob, verified against its digest."""
        return read_bytes(self.artifacts, digest)

    def close(self) -> None:
        """Release database or server connections, and the topic log."""
        self.installation.close()
        if self.db is not None:
            self.db.dispose()
        if self.server is not None:
            self.server.close()


def _settings_pii_key(settings: Settings) -> PiiKey | None:
    """The PII key ``USINA_PII_KEY`` or ``USINA_PII_KEY_FILE`` give, None when neither is set."""
    secret = settings.pii_key.get_secret_value() if settings.pii_key is not None else None
    if not secret and not settings.pii_key_file:
        return None
    from usina.privacy.keys import load_key

    return load_key(secret, settings.pii_key_file)
