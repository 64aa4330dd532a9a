"""The scenario keys for discovery: what `GET /org/v2/environments` and `GET /cmk/v2/clusters`
show, and when clusters appear and disappear. `scenario.py` mixes these into its environment,
cluster and API key models and adds the `discovery` section.

    environments:
      - id: env-demo01
        display_name: production     # org/v2 display_name; default: the id
        deleted_at: 600              # no longer listed from then (its clusters with it)
        clusters:
          - id: lkc-demo01
            display_name: orders     # cmk/v2 spec.display_name; default: the id
            cloud: AWS               # spec.cloud and spec.region, as shown
            region: us-east-1
            lifecycle:               # default: exists and PROVISIONED from t = 0, for good
              created_at: 30         # listed from then; its Connect API answers 404 before
              provisioning_seconds: 30   # status.phase PROVISIONING this long after created_at,
                                     # then PROVISIONED; null: PROVISIONING for good
              failed: false          # true: provisioning ends FAILED instead of PROVISIONED
              deleted_at: 300        # not listed from then; its Connect API answers 404
    api_keys:
      - id: demo-key
        secret: demo-secret
        environments: [env-demo01]   # where the key may list clusters (403 elsewhere);
                                     # default: everywhere. ASSUMED: Confluent lists only the
                                     # environments a key has a role in (see `discovery` below)
    discovery:
      unpermitted_environments: hidden   # hidden: an environment the key may not use is not
                                     # listed (ASSUMED, RBAC's usual view); listed: it is listed,
                                     # and listing its clusters answers 403
      page_size_max: 100             # the specs' maximum page_size; more is a 400 (ASSUMED: the
                                     # specs give the maximum, not the answer to exceeding it)

Unmarked behaviour follows the org/v2 and cmk/v2 specs: pages of `page_size` (default 10),
`metadata.next` an absolute URL on api.confluent.cloud carrying an opaque `page_token` (OBSERVED
in the Terraform provider's recorded answers: a cursor, base64 of the last id; a cluster created
between two pages shows up on a later page, none is skipped or repeated), `metadata.next` absent
on the last page, entries sorted by id, error bodies `{"errors": [{"id", "status", "code",
"title", "detail"}]}`. A key restricted to some `clusters` sees only those in cmk/v2 (ASSUMED).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterLifecycle(_Model):
    created_at: NonNegativeFloat = 0.0
    provisioning_seconds: NonNegativeFloat | None = 0.0
    failed: bool = False
    deleted_at: NonNegativeFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ClusterLifecycle:
        if self.deleted_at is not None and self.deleted_at <= self.created_at:
            raise ValueError("deleted_at comes after created_at")
        if self.failed and self.provisioning_seconds is None:
            raise ValueError("failed needs provisioning_seconds (when provisioning fails)")
        return self

    def exists(self, t: float) -> bool:
        return self.created_at <= t and (self.deleted_at is None or t < self.deleted_at)

    def phase(self, t: float) -> str:
        if self.provisioning_seconds is None or t < self.created_at + self.provisioning_seconds:
            return "PROVISIONING"
        return "FAILED" if self.failed else "PROVISIONED"


DisplayName = str  # free text in the specs; Confluent's console allows spaces and punctuation


class DiscoverableCluster(_Model):
    """Mixed into scenario.ClusterSpec."""

    display_name: DisplayName | None = Field(None, min_length=1, max_length=64)
    cloud: Literal["AWS", "GCP", "AZURE"] = "AWS"
    region: str = Field("us-east-1", min_length=1)
    lifecycle: ClusterLifecycle = ClusterLifecycle()


class DiscoverableEnvironment(_Model):
    """Mixed into scenario.EnvironmentSpec."""

    display_name: DisplayName | None = Field(None, min_length=1, max_length=64)
    deleted_at: NonNegativeFloat | None = None

    def listed(self, t: float) -> bool:
        return self.deleted_at is None or t < self.deleted_at


class EnvironmentAccess(_Model):
    """Mixed into scenario.ApiKeySpec."""

    environments: list[str] | None = None

    def may_list(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments


class DiscoverySpec(_Model):
    unpermitted_environments: Literal["hidden", "listed"] = "hidden"
    page_size_max: Annotated[int, Field(ge=1, le=1000)] = 100
