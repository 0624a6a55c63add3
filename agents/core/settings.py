"""The one settings object: read from the environment (prefix SLUICE_) once at start and passed down.

It is the largest module of the kernel on purpose: CONVENTIONS asks for one settings class, so every setting (its
type, default and description) and the few methods that resolve them (keys, Kafka security) are read in one place.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.core.audit_keys import (
    KEY_ID_PATTERN,
    CheckpointKeys,
    check_key_id,
    create_local_signing_key,
    private_key_from_text,
    public_key_from_text,
    read_local_hmac_keys,
    read_local_public_keys,
    read_local_signing_keys,
)
from agents.core.keys import GeneratedKey, external_cluster_error, missing_key_error, read_key_file
from agents.core.redaction import redact
from schemas.errors import ConfigurationError
from topics.specs import TOPIC_MAX_MESSAGE_BYTES

REPO_ROOT = Path(__file__).resolve().parents[2]

PSEUDONYM_KEY = GeneratedKey("pseudonym.key", "SLUICE_PSEUDONYM_KEY")
DEAD_LETTER_KEY = GeneratedKey("dlq.key", "SLUICE_DEAD_LETTER_KEY")
API_SERVICE_TOKEN = GeneratedKey("api-service.token", "SLUICE_API_SERVICE_TOKEN")
# Versioned: a new label would be a new digest key, and digests recorded under the old one would stop matching.
DIGEST_KEY_LABEL = b"sluice/digest-key/v1"


OperatorName = Literal["pseudonym", "replace", "mask", "redact", "keep"]

DEFAULT_OPERATORS: dict[str, OperatorName] = {
    # Identifiers map to keyed pseudonyms so records about one subject stay linkable without the value.
    "CN_RESIDENT_ID": "pseudonym",
    "CN_MOBILE": "pseudonym",
    "CN_USCC": "pseudonym",
    "EMAIL_ADDRESS": "pseudonym",
    "IP_ADDRESS": "pseudonym",
    "PERSON": "pseudonym",
    # Card numbers keep their last four digits, the form people are used to seeing on receipts.
    "BANK_CARD": "mask",
    # Public place names (countries, regions, large cities) are business facts ("ships from France"), not personal
    # data: kept, so answers and records stay readable. Street-level addresses and places NER found that are not
    # known public places (often a misread name) are replaced (models/deid/places.py; README, Privacy model).
    "PLACE": "keep",
    "ADDRESS": "replace",
    "LOCATION": "replace",
    "ORGANIZATION": "replace",
}

# Where a request may have its response sent besides inference.responses.v1 (agents/inference/reply_to.py).
DEFAULT_REPLY_TO_PATTERNS = (r"^inference\.responses\.[A-Za-z0-9_.-]+$",)


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
# A Kafka principal Sluice names: also a file name under var/secrets/kafka/, so no "/" and no leading ".".
PRINCIPAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
# The super user of the secured local broker: the CLI's principal unless SLUICE_KAFKA_USERNAME says otherwise.
LOCAL_ADMIN = "admin"


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of a process authenticates and what it trusts; `Settings.kafka_security()` makes it.

    Faust's aiokafka clients (agents/core/app.py) and every confluent-kafka client (`librdkafka()`) are built from
    this one value, so a worker's agents and its helper clients always connect as the same principal.
    """

    protocol: SecurityProtocol
    mechanism: SaslMechanism | None
    username: str | None
    password: SecretStr | None
    ca_location: Path | None

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def librdkafka(self) -> dict[str, str]:
        options: dict[str, str] = {"security.protocol": self.protocol}
        if self.uses_sasl and self.mechanism and self.username and self.password:
            options["sasl.mechanisms"] = self.mechanism
            options["sasl.username"] = self.username
            options["sasl.password"] = self.password.get_secret_value()
        if self.uses_tls and self.ca_location is not None:
            options["ssl.ca.location"] = str(self.ca_location)
        return options


class Settings(BaseSettings):
    """Effective configuration of a Sluice process. Every field can be set as SLUICE_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_", frozen=True, extra="ignore")

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLUICE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port list of an existing Kafka cluster; unset = start the local broker.",
    )
    kafka_options: dict[str, str] = Field(
        default_factory=dict,
        description="Raw librdkafka options (JSON object) for Sluice's confluent-kafka clients; security options "
        "are not taken here but from the kafka_security_protocol/sasl/username/password/ssl fields.",
    )
    secure: bool = Field(
        default=False,
        description="The local broker runs SASL/SCRAM-SHA-512 over TLS with ACLs, and each worker role connects as "
        "its own principal (`sluice up --secure`); needs the local broker (KAFKA_BOOTSTRAP_SERVERS unset).",
    )
    kafka_security_protocol: SecurityProtocol | None = Field(
        default=None,
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL for every Kafka client (Faust's and confluent's); "
        "unset = SASL_SSL when secure, else PLAINTEXT.",
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="SASL mechanism of the SASL_* protocols."
    )
    kafka_username: str | None = Field(
        default=None,
        pattern=PRINCIPAL_PATTERN,
        description="SASL user; unset when secure = admin (`sluice up` gives each worker its role's principal).",
    )
    kafka_password: SecretStr | None = Field(
        default=None,
        description="SASL password; unset when secure = the one generated in var/secrets/kafka/<user>.password.",
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None,
        description="CA certificate(s) that signed the brokers' (PEM); unset = var/secrets/tls/ca.crt when secure, "
        "else the system's CAs.",
    )
    topic_partitions: int = Field(default=3, ge=1, description="Partitions for data topics Sluice creates.")
    topic_replication: int = Field(default=1, ge=1, description="Replication factor for topics Sluice creates.")
    app_id: str = Field(default="sluice", description="Faust app id = consumer group of the workers.")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="exactly_once",
        description="exactly_once: outputs, audit drafts and offsets commit in one Kafka transaction per input "
        "partition (agents/transactions.py); at_least_once: a crash may repeat outputs.",
    )

    # --- Local state ---------------------------------------------------------------------------
    var_dir: Path = Field(default=REPO_ROOT / "var", description="Where the broker, index, models and runs live.")
    kafka_dist_dir: Path = Field(
        default=REPO_ROOT / "var" / "kafka-dist",
        description="Where the Kafka jars resolved from Maven are cached (shared by all var dirs).",
    )
    broker_port: int = Field(default=0, ge=0, description="Port of the local broker; 0 = pick a free one.")
    api_port: int = Field(default=0, ge=0, description="Port of the worker HTTP API; 0 = pick a free one.")

    # --- HTTP API ------------------------------------------------------------------------------
    api_bind: str = Field(
        default="127.0.0.1",
        description="Address the index worker's HTTP API listens on (0.0.0.0 = every interface); bound beyond "
        "loopback, /metrics needs an admin token.",
    )
    api_tokens_file: Path | None = Field(
        default=None,
        description="The API token store (SHA-256 digests, never tokens); unset = var/secrets/api-tokens.json. "
        "Several index workers share one store by sharing this file.",
    )
    api_token: SecretStr | None = Field(
        default=None, description="Token the CLI sends to the worker's API (`sluice tokens create` makes one)."
    )
    api_service_token: SecretStr | None = Field(
        default=None,
        description="Credential of Sluice's own callers (inference retrieval, audit re-execution), which name the "
        "tenant on each call; unset = generated by `sluice up` under var/secrets/.",
    )

    # --- Vector store ---------------------------------------------------------------------------
    milvus_uri: str | None = Field(
        default=None, description="Milvus server URI; unset = Milvus Lite under var/milvus/."
    )
    milvus_token: SecretStr | None = Field(default=None, description="Milvus token (user:password), if any.")
    milvus_collection: str = Field(default="sluice_records", description="Collection holding record chunks.")

    # --- Processing -------------------------------------------------------------------------------
    max_message_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        # Below the topics' max.message.bytes (topics/specs.py), so that a larger message still arrives to be
        # dead-lettered with a reason instead of being refused by the broker unseen.
        le=TOPIC_MAX_MESSAGE_BYTES // 4,
        description="Larger messages are dead-lettered (1 MiB: a 32K-token document fits, in any script).",
    )
    batch_size: int = Field(default=64, ge=1, description="Events taken per micro-batch by ingest agents.")
    batch_within_s: float = Field(default=0.25, gt=0, description="Longest wait to fill a micro-batch.")
    chunk_max_chars: int = Field(default=480, ge=32, description="Longest chunk of text embedded as one vector.")
    chunk_overlap_chars: int = Field(default=48, ge=0, description="Characters shared by neighbouring chunks.")
    embedder_dir: Path | None = Field(
        default=None,
        description="Prepared encoder directory (its manifest names the kind); unset = var/models/embedder.",
    )
    embedder_model: Literal["use-multilingual", "minilm"] = Field(
        default="use-multilingual",
        description="Encoder `sluice models prepare` writes: multilingual USE (numpy) or MiniLM (CTranslate2 int8).",
    )
    deidentify_workers: int = Field(
        default=1, ge=0, le=64, description="De-identification worker processes `sluice up` runs (GIL-bound)."
    )
    embed_threads: int = Field(
        default=2,
        ge=1,
        description="Encoder threads of the index worker (CTranslate2 intra-op, or numpy BLAS for USE).",
    )
    ner_enabled: bool = Field(default=True, description="Run the NER stage after the pattern recognizers.")
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Secret for keyed-hash pseudonyms and keyed digests; unset = generated by `sluice up` under "
        "var/secrets/ (refused with an external cluster).",
    )
    dead_letter_key: SecretStr | None = Field(
        default=None,
        description="64 hex chars (AES-256) sealing original bytes in dead letters; unset = generated by `sluice up` "
        "under var/secrets/ (refused with an external cluster).",
    )
    deid_operators: dict[str, OperatorName] = Field(
        default_factory=lambda: dict(DEFAULT_OPERATORS),
        description="Operator per entity type (pseudonym, replace, mask, redact, keep); others use pseudonym.",
    )
    # --- Inference ------------------------------------------------------------------------------------------------
    registry_dir: Path | None = Field(default=None, description="Model registry root; unset = var/models/registry.")
    generator_model: str = Field(default="smollm2", description="Registry name of the model that answers requests.")
    generate_threads: int = Field(default=2, ge=1, description="CTranslate2 intra-op threads of the inference worker.")
    max_idle_model_versions: int = Field(
        default=2,
        ge=0,
        description="Model versions the inference worker keeps loaded beyond the routed ones (promoted / weighted), "
        "for queued requests and instant rollback; the least recently routed beyond that are unloaded.",
    )
    # The raw int8 engine on 2 cores decodes 74 tok/s at batch 16 and 120 tok/s at batch 32 (short prompts): the
    # count limit is high and the padded token budget is what closes batches of long prompts.
    max_batch_size: int = Field(default=32, ge=1, description="Requests per generate_batch call.")
    max_batch_tokens: int = Field(
        default=16384,
        ge=1,
        description="Batch size times its longest item (prompt + new tokens): every prompt is padded to the longest.",
    )
    max_length_ratio: float = Field(
        default=2.0,
        ge=1.0,
        description="Longest item of a batch over its shortest, at most: a longer item waits for a batch of its own "
        "length rather than multiply everyone's prefill.",
    )
    max_wait_ms: float = Field(default=20.0, ge=0, description="Longest a batch waits for company.")
    max_queue: int = Field(default=256, ge=1, description="Requests queued before consumption pauses.")
    inference_commit_interval_s: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="How often the inference worker commits: an answer becomes visible to a read_committed client at "
        "its commit, so this is added to every response's latency (ingest stages commit every second).",
    )
    inference_take: int = Field(default=64, ge=1, description="Requests taken from Kafka per micro-batch.")
    inference_within_s: float = Field(
        default=0.02,
        gt=0,
        description="Longest wait to fill a request micro-batch (the dynamic batcher does the real waiting).",
    )
    inference_max_in_flight: int = Field(
        default=256,
        ge=1,
        description="Requests taken from Kafka and not yet answered, all sessions together; above it the worker "
        "stops taking more (sessions are answered side by side, a session's turns in order).",
    )
    answered_request_retention_s: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="How long a request id is remembered as answered; a repeat after that is answered again.",
    )
    session_retention_s: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="How long a session's history is kept after its last turn."
    )
    max_sessions_per_tenant: int = Field(
        default=10_000,
        ge=1,
        description="Session histories kept per tenant in each request partition; a new session beyond that "
        "drops that tenant's least recently used one there.",
    )
    reply_to_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REPLY_TO_PATTERNS),
        description="Regular expressions (JSON list) a request's reply_to must fully match, besides "
        "inference.responses.v1; other topics declared in topics/specs.py are refused whatever these say.",
    )
    tenant_topics_check_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the inference worker looks for tenants' request topics added or removed since it "
        "started (it restarts to subscribe to them).",
    )
    retrieval_k: int = Field(default=4, ge=0, le=50, description="Records retrieved per chat request (0 = none).")
    context_tokens: int = Field(
        default=448,
        ge=0,
        le=32_000,
        description="Tokens the retrieved records may take in a chat prompt, best first, the last one cut to fit "
        "(0 = no limit: every record whole). Prefill of the prompt sets chat latency on CPU.",
    )
    history_tokens: int = Field(
        default=256,
        ge=0,
        le=32_000,
        description="Tokens a chat session's past exchanges may take in a prompt, newest whole exchanges first, a "
        "note saying how many turns were left out (0 = none, only the new message). Every turn of a long session "
        "would otherwise carry its whole past through prefill.",
    )
    prompt_aliases: bool = Field(
        default=True,
        description="Show the model each pseudonym of a prompt as a short alias ([P1], [M1]) and map the aliases in "
        "its answer back: a pseudonym costs a small model about 18 tokens, an alias 3 to 4.",
    )
    retrieval_url: str | None = Field(default=None, description="Index worker API for retrieval; `sluice up` sets it.")
    # --- long inputs (#12) ---
    max_input_tokens: int = Field(
        default=32_768,
        ge=1,
        le=1_000_000,
        description="Longest document or prompt answered, in the model's tokens; longer ones are `rejected`. One "
        "that does not fit the model's context is read in overlapping windows (map-reduce).",
    )
    long_input_window_tokens: int = Field(
        default=0,
        ge=0,
        description="Tokens of a long input per window (0 = as many as the model's context leaves room for).",
    )
    long_input_overlap_tokens: int = Field(
        default=64, ge=0, description="Tokens neighbouring windows of a long input share (at most half a window)."
    )
    search_retriever: Literal["hybrid", "dense", "sparse"] = Field(
        default="hybrid",
        description="What /search (and chat retrieval) ranks by after exact pseudonym matches: meaning and terms "
        "fused (hybrid), meaning alone (dense) or terms alone (sparse); README: Search.",
    )
    review_deadline_s: int = Field(
        default=24 * 3600,
        ge=1,
        le=30 * 24 * 3600,
        description="How long a review item waits for a decision before it expires with a `timeout` response "
        "(a review rule's deadline_s overrides it).",
    )
    review_check_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="How often the review agent looks for items past their deadline."
    )
    keep_request_context: bool = Field(
        default=True,
        description="Publish what the model saw and answered, de-identified, on inference.context.v1 "
        "(review console, `sluice explain`).",
    )
    code_max_attempts: int = Field(
        default=3, ge=1, le=10, description="Code task: generations per request, the first plus repairs."
    )
    code_failure_action: Literal["review", "reject"] = Field(
        default="review",
        description="Code task: what happens to code that failed validation after every attempt: a human reviews it "
        "(review.pending.v1) or the client gets `rejected` with the reasons. Never `ok`.",
    )
    code_cpu_seconds: int = Field(default=5, ge=1, le=120, description="Code sandbox: CPU seconds per test run.")
    code_wall_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Code sandbox: wall-clock seconds per run."
    )
    code_memory_mb: int = Field(default=256, ge=64, le=8192, description="Code sandbox: address-space limit (MB).")
    pseudonymise_prompts: list[str] = Field(
        default_factory=lambda: ["*"],
        description='Tenants whose prompts the model sees pseudonymised (JSON list; "*" = every tenant).',
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")

    # --- Liveness -------------------------------------------------------------------------------------------------
    worker_slot: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="This worker's slot (role-N); names its heartbeat, stall and ready files in var/run. `sluice up` "
        "sets it; unset = the role name for heartbeat and stalls, and no ready mark (nobody waits for one).",
    )
    batch_time_budget_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest a stage may work on one micro-batch; past it the worker exits to be restarted (a "
        "thread holding the GIL cannot be interrupted) and the batch is retried record by record.",
    )
    heartbeat_interval_s: float = Field(
        default=5.0, gt=0, description="How often a worker's event loop touches its heartbeat file."
    )
    heartbeat_timeout_s: float = Field(
        default=90.0,
        gt=0,
        description="The keep-alive supervisor kills (SIGKILL) and restarts a worker whose heartbeat is older.",
    )
    heartbeat_startup_s: float = Field(
        default=600.0,
        gt=0,
        description="How long a new worker may take to its first heartbeat (model loading, reading rules.v1).",
    )
    audit_signing_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Ed25519 checkpoint signing keys by key id (JSON {"2026-11": "<base64 seed>"}); only the chainer '
        "needs them. Unset = one generated under var/secrets/ for local use (refused with an external cluster).",
    )
    audit_signing_key_id: str = Field(
        default="local-1", pattern=KEY_ID_PATTERN, description="Key id whose private key signs new checkpoints."
    )
    audit_public_keys: dict[str, str] = Field(
        default_factory=dict,
        description='Ed25519 public keys by key id (JSON {"2026-11": "<base64>"}) that verify checkpoints: every id '
        "that signed one still on the topic. Unset = the local ones under var/secrets/.",
    )
    audit_hmac_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="HMAC keys by key id of checkpoints written before Ed25519 signing (JSON); only read, to check "
        "those old checkpoints. Unset = the local var/secrets/audit-hmac-*.key files, if any.",
    )
    audit_accept_legacy_tail: bool = Field(
        default=False,
        description="Upgrade only: let the chainer continue a chain whose last events were written unsealed by an "
        "earlier version (and not covered by a checkpoint it can check) instead of refusing to start.",
    )
    audit_checkpoint_every: int = Field(
        default=100, ge=1, description="Events per audit partition between two signed checkpoints."
    )
    audit_checkpoint_interval_s: float = Field(
        default=60.0, gt=0, description="Longest time between checkpoints of a partition that receives events."
    )

    @field_validator("heartbeat_timeout_s")
    @classmethod
    def _timeout_spans_several_beats(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("heartbeat_interval_s")
        if interval is not None and value < 3 * interval:
            raise ValueError(f"must be at least 3 heartbeat intervals ({3 * interval:g}s), or a slow beat kills")
        return value

    @field_validator("api_bind")
    @classmethod
    def _check_bind_address(cls, value: str) -> str:
        # An IP address or a host name: no scheme, port or path, which would fail later and less clearly.
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
                raise ValueError(
                    "must be an IP address or a host name, without scheme or port (e.g. 127.0.0.1)"
                ) from None
        return value

    @field_validator("api_service_token")
    @classmethod
    def _check_service_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters (`python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return value

    @field_validator("kafka_options", "audit_signing_keys", "audit_public_keys", "audit_hmac_keys", mode="before")
    @classmethod
    def _parse_json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("reply_to_patterns")
    @classmethod
    def _compile_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("kafka_options")
    @classmethod
    def _no_security_options(cls, value: dict[str, str]) -> dict[str, str]:
        # Faust's clients never see these raw options: a security option here would secure only some clients.
        misplaced = sorted(k for k in value if k == "security.protocol" or k.startswith(("sasl.", "ssl.")))
        if misplaced:
            raise ValueError(
                f"{', '.join(misplaced)} cannot be set here: use SLUICE_KAFKA_SECURITY_PROTOCOL, "
                "SLUICE_KAFKA_SASL_MECHANISM, SLUICE_KAFKA_USERNAME, SLUICE_KAFKA_PASSWORD and "
                "SLUICE_KAFKA_SSL_CA_LOCATION, which every Kafka client of Sluice (the workers' Faust ones too) honours"
            )
        return value

    @model_validator(mode="after")
    def _secure_means_the_local_broker(self) -> Settings:
        if not self.secure:
            return self
        if self.kafka_bootstrap_servers:
            raise ValueError(
                "SLUICE_SECURE secures the local broker that Sluice starts; for an existing cluster leave it unset and "
                "set SLUICE_KAFKA_SECURITY_PROTOCOL, SLUICE_KAFKA_USERNAME and SLUICE_KAFKA_PASSWORD"
            )
        if self.kafka_security_protocol not in (None, "SASL_SSL") or self.kafka_sasl_mechanism != "SCRAM-SHA-512":
            raise ValueError("SLUICE_SECURE: the secured local broker takes SASL_SSL with SCRAM-SHA-512 only")
        return self

    @property
    def milvus_lite_path(self) -> Path:
        return self.var_dir / "milvus" / "sluice.db"

    @property
    def resolved_milvus_uri(self) -> str:
        return self.milvus_uri or str(self.milvus_lite_path)

    @property
    def resolved_embedder_dir(self) -> Path:
        return self.embedder_dir or self.var_dir / "models" / "embedder"

    @property
    def resolved_registry_dir(self) -> Path:
        return self.registry_dir or self.var_dir / "models" / "registry"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def secrets_dir(self) -> Path:
        return self.var_dir / "secrets"

    def generated_keys(self) -> list[GeneratedKey]:
        """The keys left unconfigured here, which `sluice up` generates under var/secrets/ for local use."""
        keys = []
        if self.pseudonym_key is None:
            keys.append(PSEUDONYM_KEY)
        if self.dead_letter_key is None:
            keys.append(DEAD_LETTER_KEY)
        if self.api_service_token is None:
            keys.append(API_SERVICE_TOKEN)
        return keys

    def slot(self, role: str) -> str:
        """The name this worker's run files go by: the configured slot, or its role."""
        return self.worker_slot or role

    @property
    def resolved_api_tokens_file(self) -> Path:
        return self.api_tokens_file or self.var_dir / "secrets" / "api-tokens.json"

    def api_service_secret(self) -> str:
        """The service credential: SLUICE_API_SERVICE_TOKEN, or the one `sluice up` generated under var/secrets/."""
        if self.api_service_token is not None:
            return self.api_service_token.get_secret_value()
        return self._generated_secret(API_SERVICE_TOKEN)

    @property
    def kafka_credentials_dir(self) -> Path:
        """One password file per principal of the secured local broker (0600, made once by `sluice up --secure`)."""
        return self.var_dir / "secrets" / "kafka"

    @property
    def tls_dir(self) -> Path:
        """The secured local broker's CA and certificate (agents/processes/tls.py)."""
        return self.var_dir / "secrets" / "tls"

    def kafka_security(self) -> KafkaSecurity:
        """The one place that decides how this process's Kafka clients authenticate and what they trust."""
        protocol: SecurityProtocol = self.kafka_security_protocol or ("SASL_SSL" if self.secure else "PLAINTEXT")
        username: str | None = None
        password: SecretStr | None = None
        if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            username = self.kafka_username or (LOCAL_ADMIN if self.secure else None)
            if username is None:
                raise ConfigurationError(
                    f"SLUICE_KAFKA_USERNAME is needed with SLUICE_KAFKA_SECURITY_PROTOCOL={protocol}"
                )
            password = self.kafka_password or (self.principal_password(username) if self.secure else None)
            if password is None:
                raise ConfigurationError(
                    f"SLUICE_KAFKA_PASSWORD is needed with SLUICE_KAFKA_SECURITY_PROTOCOL={protocol}"
                )
        ca_location = self.kafka_ssl_ca_location
        if ca_location is None and self.secure:
            ca_location = self.tls_dir / "ca.crt"
        if protocol in ("SSL", "SASL_SSL") and ca_location is not None and not ca_location.is_file():
            raise ConfigurationError(
                f"SLUICE_KAFKA_SSL_CA_LOCATION: no CA certificate at {ca_location}"
                + (" (`sluice up --secure` makes the local one)" if self.secure else "")
            )
        return KafkaSecurity(
            protocol=protocol,
            mechanism=self.kafka_sasl_mechanism if username else None,
            username=username,
            password=password,
            ca_location=ca_location if protocol in ("SSL", "SASL_SSL") else None,
        )

    def kafka_client_config(self) -> dict[str, str]:
        """librdkafka options of every confluent-kafka client: SLUICE_KAFKA_OPTIONS and the security settings."""
        return {**self.kafka_options, **self.kafka_security().librdkafka()}

    def principal_password(self, username: str) -> SecretStr:
        """The generated password of a principal of the secured local broker (var/secrets/kafka/<name>.password)."""
        path = self.kafka_credentials_dir / f"{username}.password"
        try:
            return SecretStr(path.read_text().strip())
        except FileNotFoundError:
            raise ConfigurationError(
                f"no password for Kafka principal {username!r} in {self.kafka_credentials_dir}: `sluice up --secure` "
                "makes the role principals' and `sluice tenants add NAME` a tenant's; or set SLUICE_KAFKA_PASSWORD"
            ) from None

    def pseudonym_secret(self) -> bytes:
        """The pseudonym key: SLUICE_PSEUDONYM_KEY, or the one `sluice up` generated under var/secrets/."""
        if self.pseudonym_key is not None:
            return self.pseudonym_key.get_secret_value().encode()
        return self._generated_secret(PSEUDONYM_KEY).encode()

    def digest_secret(self) -> bytes:
        """The key of Sluice's keyed digests (prompts, answers, dead-letter bytes), derived from the pseudonym key.

        Its own label keeps it apart from pseudonyms: a digest can never equal the pseudonym of some value.
        """
        return hmac.new(self.pseudonym_secret(), DIGEST_KEY_LABEL, hashlib.sha256).digest()

    def dead_letter_secret(self) -> bytes:
        """The AES-256 key for dead-letter payloads (32 bytes)."""
        if self.dead_letter_key is not None:
            value = self.dead_letter_key.get_secret_value()
        else:
            value = self._generated_secret(DEAD_LETTER_KEY)
        try:
            key = bytes.fromhex(value)
        except ValueError as exc:
            raise ConfigurationError("SLUICE_DEAD_LETTER_KEY must be 64 hexadecimal characters") from exc
        if len(key) != 32:
            raise ConfigurationError("SLUICE_DEAD_LETTER_KEY must be 64 hexadecimal characters (32 bytes)")
        return key

    def audit_signer(self, *, create_local: bool = False) -> tuple[str, dict[str, Ed25519PrivateKey]]:
        """(id that signs, every private key by id) for the chainer: SLUICE_AUDIT_SIGNING_KEYS, or the local keys.

        `create_local` generates the local key when it is missing (the chainer's start, nothing else).
        """
        key_id = self.audit_signing_key_id
        if self.audit_signing_keys:
            keys = {
                check_key_id(kid, "SLUICE_AUDIT_SIGNING_KEYS"): private_key_from_text(
                    secret.get_secret_value(), f"SLUICE_AUDIT_SIGNING_KEYS[{kid!r}]"
                )
                for kid, secret in self.audit_signing_keys.items()
            }
            if key_id not in keys:
                raise ConfigurationError(
                    f"SLUICE_AUDIT_SIGNING_KEY_ID={key_id!r} is not among SLUICE_AUDIT_SIGNING_KEYS "
                    f"({', '.join(sorted(keys))}): add its key there or pick one of those ids"
                )
            return key_id, keys
        if self.kafka_bootstrap_servers:
            raise ConfigurationError(
                f"SLUICE_AUDIT_SIGNING_KEYS is not set, and with an external cluster ({self.kafka_bootstrap_servers}) "
                "no local key is generated: every machine would sign with its own. Set it to "
                '{"<key id>": "<base64 Ed25519 seed>"} on the machines that run the audit chainer, '
                "SLUICE_AUDIT_SIGNING_KEY_ID to that id, and give auditors the public key "
                "(`sluice audit public-key`)"
            )
        keys = read_local_signing_keys(self.secrets_dir)
        if key_id not in keys:
            if not create_local:
                raise ConfigurationError(
                    f"no audit signing key {key_id!r} under {self.secrets_dir}: it is generated when the audit "
                    "chainer first starts (`sluice up`), or set SLUICE_AUDIT_SIGNING_KEYS"
                )
            keys[key_id] = create_local_signing_key(self.secrets_dir, key_id)
        return key_id, keys

    def audit_checkpoint_keys(self) -> CheckpointKeys:
        """Keys that verify checkpoints: SLUICE_AUDIT_PUBLIC_KEYS (else the local public keys) and the legacy HMAC
        keys (SLUICE_AUDIT_HMAC_KEYS, else local ones). Reads only: verifying never creates a key."""
        if self.audit_public_keys:
            public = {
                check_key_id(kid, "SLUICE_AUDIT_PUBLIC_KEYS"): public_key_from_text(
                    text, f"SLUICE_AUDIT_PUBLIC_KEYS[{kid!r}]"
                )
                for kid, text in self.audit_public_keys.items()
            }
            source = "SLUICE_AUDIT_PUBLIC_KEYS"
        else:
            public, source = read_local_public_keys(self.secrets_dir), f"{self.secrets_dir}/*.pub"
        if self.audit_hmac_keys:
            hmac_keys = {kid: secret.get_secret_value().encode() for kid, secret in self.audit_hmac_keys.items()}
        else:
            hmac_keys = read_local_hmac_keys(self.secrets_dir)
        return CheckpointKeys(public, hmac_keys, source)

    def _generated_secret(self, key: GeneratedKey) -> str:
        # Read only: agents.core.keys.create_generated_keys (run by `sluice up`) is the one place that creates keys.
        if self.kafka_bootstrap_servers:
            raise external_cluster_error(self.kafka_bootstrap_servers, [key])
        path = self.secrets_dir / key.file_name
        value = read_key_file(path)
        if value is None:
            raise missing_key_error(path, key)
        return value

    def redacted(self) -> dict[str, Any]:
        """Settings as plain JSON-able values with every secret hidden, for `sluice config`.

        Hidden: SecretStr fields, Kafka options whose name says secret (sasl.password, ssl.key.password, …) and
        credentials inside URIs (milvus_uri http://user:pw@host); agents/core/redaction.py has the rules.
        """
        shown: dict[str, Any] = {name: str(value) if isinstance(value, Path) else value for name, value in self}
        shown["resolved_milvus_uri"] = self.resolved_milvus_uri
        shown["resolved_embedder_dir"] = str(self.resolved_embedder_dir)
        return dict(redact(shown))


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment; a bad value fails here with the setting's name."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # An error of the whole object (a combination of settings) has no location; its message names them.
        problems = "; ".join(
            f"SLUICE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" if err["loc"] else err["msg"]
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from exc
