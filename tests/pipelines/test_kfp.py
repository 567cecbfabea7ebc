"""Compiled to KFP v2 YAML, a pipeline runs under kfp.local and gives the local runner's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from resources import pipelines as p
from resources.requirements import require_extra
from usina.pipelines.kfp import compile_kfp

kfp = require_extra("kfp", "kfp")


@pytest.mark.filterwarnings("ignore:Task .* have no effect in the current local runner")
def test_compiled_yaml_runs_on_kfp_local_with_the_local_runners_outputs(
    tmp_path, client_factory, workdir
) -> None:
    from kfp import components, local

    # The local runner, on its own database and artifact store.
    local_client = client_factory(
        f"sqlite:///{tmp_path / 'local.db'}", str(tmp_path / "local-artifacts")
    )
    expected = p.chain.run(local_client, workdir=workdir, factor=3.0)
    assert expected.ok

    # The same pipeline compiled, loaded back with the kfp SDK and run by its subprocess runner.
    kfp_db = f"sqlite:///{tmp_path / 'kfp.db'}"
    env = {"USINA_DB_URL": kfp_db, "USINA_ARTIFACTS": str(tmp_path / "kfp-artifacts")}
    out = compile_kfp(p.chain, tmp_path / "chain.yaml", image="python:3.11", env=env)
    spec = yaml.safe_load(out.read_text())
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == len(p.chain.graph) == 5
    assert {e["container"]["image"] for e in executors.values()} == {"python:3.11"}
    assert spec["root"]["inputDefinitions"]["parameters"]["factor"]["defaultValue"] == 2.0

    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp-root")
    )
    loaded = components.load_component_from_file(str(out))
    loaded(workdir=workdir, factor=3.0)

    kfp_client = client_factory(kfp_db, str(tmp_path / "kfp-artifacts"))
    [remote] = kfp_client.pipelines.list_runs(trigger_prefix="kfp:")
    remote = kfp_client.pipelines.get_run(remote.id)
    assert remote.ok
    for node in p.chain.graph.nodes:
        assert remote.output(node).digest == expected.output(node).digest, node
    assert remote.output("report").value == {"total": 3.0 * sum(range(40)), "rows": 40.0}
    # Every step was a tracking run in the remote database too, with lineage links.
    report = kfp_client.tracking.get_run(remote.step("report").id)
    assert report.metrics == {"total": 3.0 * sum(range(40)), "rows": 40.0}
    assert Path(tmp_path / "kfp-artifacts").is_dir()


def test_an_untyped_parameter_cannot_be_compiled(tmp_path) -> None:
    import usina
    from usina.errors import InvalidInput

    @usina.pipeline
    def loose(workdir, n=None):  # type: ignore[no-untyped-def]
        p.load(workdir)

    with pytest.raises(
        InvalidInput, match="pipeline parameter 'workdir': KFP needs a concrete type"
    ):
        compile_kfp(loose, tmp_path / "x.yaml", image="python:3.11")
