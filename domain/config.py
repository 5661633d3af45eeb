"""Configuration: one settings object, from defaults, a YAML file and ``OGI_*`` variables.

Precedence (last wins): built-in defaults < config file < environment < explicit CLI flags.
The config file is ``$OGI_CONFIG`` if set, else ``./ogi.yaml`` when present. Secrets
(``OGI_SMTP_PASSWORD``, ``OGI_ADMIN_TOKEN``) are read from the environment only, so a
config file checked into a repository never holds them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "OGI_"
SECRET_FIELDS = frozenset({"smtp_password", "admin_token"})


@dataclass
class Settings:
    """Every knob of ogi-archive. Field names map to ``OGI_<NAME>`` variables and YAML keys."""

    data_dir: str = "./data"
    database_url: str = ""
    sources_file: str = ""
    user_agent: str = "ogi-archive/0.1 (+https://github.com/ogi-archive/ogi-archive; research archive of OGI annual reports)"
    max_download_mb: int = 50
    # extraction: what one document may cost (pipelines.bounded.Budget)
    extract_timeout_s: int = 180
    extract_memory_mib: int = 1024
    # extraction processes beside a crawl in the nightly without a queue (flow.nightly); with a
    # queue, ``ogi worker --queue after_crawl --concurrency N`` sets a machine's extraction; 0: after the crawl
    extract_workers: int = 1
    # scheduler
    timezone: str = "Asia/Shanghai"
    nightly_cron: str = "0 2 * * *"
    full_sweep_months: str = "2,4"
    fixity_cron: str = "0 4 15 * *"  # the monthly fixity audit (ogi verify --sample); empty: none
    fixity_sample: int = 5000  # blobs and WARC files per audit, rotating over the archive
    # the nightly: sources per crawl process; what one source's run may cost (0: no limit;
    # a source's crawl_settings OGI_SOURCE_MAX_PAGES / OGI_SOURCE_MAX_SECONDS override them)
    nightly_batch_size: int = 300
    source_page_budget: int = 20000
    source_time_budget_s: int = 14400
    # task queue (procrastinate on PostgreSQL); empty: the nightly runs its batches in-process
    queue_url: str = ""
    queue_stalled_s: int = 30  # a worker silent this long is dead: its jobs run again elsewhere
    # alerts
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "ogi-archive <alerts@localhost>"
    smtp_security: str = "none"
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    compliance_grace_days: int = 14  # days after a deadline before a report counts as missing (storage/compliance.py)
    # web
    base_url: str = ""
    # a Wayback-style replay of this archive (pywb on the data directory, README "Replaying the
    # archive"), e.g. http://localhost:8080/ogi/ : report pages then link their archived source page
    replay_base_url: str = ""
    admin_token: str = field(default="", repr=False)

    @property
    def db_url(self) -> str:
        """The database URL; defaults to a SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'ogi.sqlite3'}"

    @property
    def blob_dir(self) -> Path:
        return Path(self.data_dir) / "blobs"

    @property
    def warc_dir(self) -> Path:
        return Path(self.data_dir) / "warc"


def _coerce(value: Any, like: Any) -> Any:
    if isinstance(like, bool):
        return str(value).strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
    return str(value)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, the config file, the environment and ``overrides``.

    ``overrides`` whose value is ``None`` are ignored, so CLI options can be passed as they are.
    """
    settings = Settings()
    names = {f.name: f for f in fields(Settings)}
    path = config_file or os.environ.get("OGI_CONFIG") or ("ogi.yaml" if Path("ogi.yaml").exists() else None)
    if path:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        unknown = set(data) - set(names)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s): {', '.join(sorted(unknown))}")
        for key, value in data.items():
            if key in SECRET_FIELDS:
                raise ValueError(f"{path}: {key} may only be set in the environment (OGI_{key.upper()})")
            setattr(settings, key, _coerce(value, getattr(settings, key)))
    for name in names:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            setattr(settings, name, _coerce(env, getattr(settings, name)))
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, value)
    return settings
