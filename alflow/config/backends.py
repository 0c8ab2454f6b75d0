"""Typed configuration of the annotation backends a loop can send its batches to (who answers
a round), and the credential rule their URLs follow."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OracleBackendConfig(_Model):
    """Simulated annotator: answers at once from the loop's ground-truth field."""

    kind: Literal["oracle"] = "oracle"


# a URL whose authority (between the scheme and the first '/', '?' or '#') holds no '@': the
# same rule as the validator below, published in the parameter schema so Prefect refuses a run
# with credentials in the URL before it stores the run's parameters
URL_WITHOUT_CREDENTIALS = (
    r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*|[^/?#@:]*(?::[0-9]+)?)(?:[/?#].*)?$"
)


def url_has_credentials(url: str) -> bool:
    """Whether ``url`` carries a user name or password ('@' in its authority)."""
    rest = url.strip().split("://", 1)[-1]
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return "@" in authority


def cvat_url_refusal(where: str) -> str:
    """The one line that refuses a CVAT URL with credentials in it, wherever it came from
    (``where``: backend.url, ALFLOW_CVAT_URL, a Prefect Secret block); it never shows the URL."""
    return (
        f"the CVAT URL in {where} contains a user name or password; remove them from the URL "
        "(they would be stored with the loop and logged) and give the credentials by a Prefect "
        "Secret block (credentials_block) or ALFLOW_CVAT_TOKEN or "
        "ALFLOW_CVAT_USERNAME/ALFLOW_CVAT_PASSWORD"
    )


def refuse_credentials(url: str | None, where: str = "backend.url") -> str | None:
    """The URL unchanged, or a ValueError if it carries a user name or password.

    A loop's configuration is stored in the ledger and in Prefect's run parameters, and the URL
    is logged: a secret inside it would be kept in all three.
    """
    if url is not None and url_has_credentials(url):
        raise ValueError(cvat_url_refusal(where))
    return url


class CvatBackendConfig(_Model):
    """Annotation in CVAT; credentials come from a Prefect Secret block or the environment."""

    kind: Literal["cvat"] = "cvat"
    url: str | None = Field(
        None,
        pattern=URL_WITHOUT_CREDENTIALS,
        description="CVAT URL, without credentials; default: the 'url' of the credentials "
        "block, else ALFLOW_CVAT_URL",
    )
    segment_size: int = Field(50, ge=1, description="Frames per CVAT job")
    assignee: str | None = Field(
        None, description="CVAT user name (or numeric user id) to assign the jobs to"
    )
    organization: str | None = Field(
        None,
        description="Slug of the CVAT organization the loop's project and tasks belong to "
        "(default: the account's personal workspace)",
    )
    accept_stage_acceptance: bool = Field(
        True,
        description="Also count jobs in stage 'acceptance' as finished (CVAT resets a job's "
        "state to 'new' when a reviewer moves it to another stage)",
    )
    unknown_labels: Literal["error", "new_class"] = Field(
        "error", description="What a label outside the class list does"
    )
    credentials_block: str | None = Field(
        None,
        description=(
            "Prefect Secret block holding the CVAT credentials ({'username', 'password'} or "
            "{'token'}, either with an optional 'url', or a bare access token); default: "
            "ALFLOW_CVAT_SECRET_BLOCK, else the "
            "ALFLOW_CVAT_TOKEN or ALFLOW_CVAT_USERNAME/ALFLOW_CVAT_PASSWORD variables"
        ),
    )
    retries: int = Field(
        4, ge=0, le=20, description="Extra attempts after a connection error or a 5xx answer"
    )
    backoff_seconds: float = Field(
        1.0, gt=0, description="Wait before the first retry; doubles with every further retry"
    )
    backoff_max_seconds: float = Field(30.0, gt=0, description="Longest wait between retries")
    timeout_seconds: float = Field(120.0, gt=0, description="Socket timeout of one CVAT request")
    poll_seconds: float = Field(
        2.0, gt=0, description="How often to ask CVAT whether uploaded images are processed"
    )
    processing_timeout_seconds: float = Field(
        1800.0,
        gt=0,
        description="Longest wait for CVAT to process a round's images; a later step goes on",
    )

    @field_validator("url", mode="before")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        return refuse_credentials(value) if isinstance(value, str) else value


class LabelStudioBackendConfig(_Model):
    """Annotation in Label Studio; the API token comes from a Prefect Secret block or the
    environment (see alflow.backends.label_studio)."""

    kind: Literal["label_studio"] = "label_studio"
    url: str | None = Field(
        None,
        pattern=URL_WITHOUT_CREDENTIALS,
        description="Label Studio URL, without credentials; default: ALFLOW_LABEL_STUDIO_URL",
    )
    local_files_root: str | None = Field(
        None,
        description="The LOCAL_FILES_DOCUMENT_ROOT the Label Studio server was started with "
        "(and LOCAL_FILES_SERVING_ENABLED=true): images under it are served in place through a "
        "local-files storage, others are uploaded; unset: every image is uploaded",
    )
    unknown_labels: Literal["error", "new_class"] = Field(
        "error", description="What a choice outside the class list does"
    )
    credentials_block: str | None = Field(
        None,
        description="Prefect Secret block holding the API token (a personal access token or a "
        "legacy token, bare or as {'token': ...}); default: ALFLOW_LABEL_STUDIO_SECRET_BLOCK, "
        "else the ALFLOW_LABEL_STUDIO_TOKEN variable",
    )
    retries: int = Field(
        4, ge=0, le=20, description="Extra attempts after a connection error or a 5xx answer"
    )
    backoff_seconds: float = Field(
        1.0, gt=0, description="Wait before the first retry; doubles with every further retry"
    )
    backoff_max_seconds: float = Field(30.0, gt=0, description="Longest wait between retries")
    timeout_seconds: float = Field(120.0, gt=0, description="Timeout of one Label Studio request")

    @field_validator("url", mode="before")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        try:
            return refuse_credentials(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError(
                "the Label Studio URL contains a user name or password; remove them from the URL "
                "(they would be stored with the loop) and give the API token by a Prefect Secret "
                "block (credentials_block) or ALFLOW_LABEL_STUDIO_TOKEN"
            ) from None


class AppBackendConfig(_Model):
    """Review in the FiftyOne App: the batch is tagged and pre-filled; a reviewer corrects it."""

    kind: Literal["app"] = "app"
    unknown_labels: Literal["error", "new_class"] = Field(
        "error",
        description="What a review label outside the class list does (class-name tags are "
        "only read for known classes)",
    )


BackendConfig = Annotated[
    AppBackendConfig | OracleBackendConfig | CvatBackendConfig | LabelStudioBackendConfig,
    Field(discriminator="kind"),
]
