"""The manifests the benchmark generates, and the desired state they load as.

Every model has the same shape (an S3 URI, a role ARN and two user tags), so the figures
for different N differ only by N. Names sort in creation order, as a real fleet's rarely
do, but nothing measured depends on the order.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

# Pages of 100: GetResources' largest (reconciler.aws.reader.TAGGING_PAGE_SIZE), and the
# default page of ListCustomModels that a plain paginator loop gets.
PAGE_SIZE = 100


def pages_for(count: int) -> int:
    """Pages of 100 of a listing of ``count`` models (at least one, even when empty)."""
    return max(1, math.ceil(count / PAGE_SIZE))


def list_pages_for(count: int) -> int:
    """The reconciler's ``ListCustomModels`` pages for ``count`` models (at least one)."""
    from reconciler.aws.reader import LIST_PAGE_SIZE

    return max(1, math.ceil(count / LIST_PAGE_SIZE))


# A models-only account still lists its (no) throughputs and deployments: one page each.
SERVING_LIST_PAGES = {"ListCustomModelDeployments": 1, "ListProvisionedModelThroughputs": 1}


def model_name(index: int) -> str:
    return f"bench-model-{index:05d}"


def manifest_text(index: int) -> str:
    name = model_name(index)
    return (
        "apiVersion: bedrock.gitops/v1\n"
        "kind: CustomModel\n"
        "metadata:\n"
        f"  name: {name}\n"
        "spec:\n"
        "  modelSourceConfig:\n"
        "    s3DataSource:\n"
        f"      s3Uri: s3://bench-models/{name}/\n"
        "  roleArn: arn:aws:iam::111122223333:role/BedrockModelImport\n"
        "  tags:\n"
        f"    team: team-{index % 10}\n"
        f'    cost-center: "{1000 + index % 7}"\n'
    )


def write_manifests(folder: Path, count: int, per_file: int = 1) -> Path:
    """``count`` valid manifests in ``count / per_file`` files (``---``-separated documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, count, per_file):
        documents = [manifest_text(i) for i in range(start, min(start + per_file, count))]
        (folder / f"models-{start // per_file:05d}.yaml").write_text("---\n".join(documents))
    return folder


def load(folder: Path, count: int) -> Any:
    """The ``DesiredState`` of the manifests in ``folder``, checked to hold ``count`` models."""
    from reconciler import manifests

    desired = manifests.load([str(folder)])
    if len(desired.models) != count:
        raise RuntimeError(f"{folder}: {len(desired.models)} models loaded, expected {count}")
    return desired


def declared_model(index: int) -> Any:
    """One ``DeclaredModel``, loaded from its manifest like any other."""
    with tempfile.TemporaryDirectory(prefix="bench-model-") as temp:
        folder = write_manifests(Path(temp), 1)
        (folder / "models-00000.yaml").write_text(manifest_text(index))
        return load(folder, 1).models[0]
