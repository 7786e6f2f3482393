"""serverless.yml as deployed: handlers that exist, the fan-out's safety settings, no secrets, least privilege.

These read serverless.yml alone; the checks on the generated CloudFormation are in deploy/test_template.py,
which `./scripts/package` runs after `serverless package`.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from .support.serverless import ROOT, SERVERLESS_YML, _CfnLoader

TEMPLATE = ROOT / ".serverless" / "cloudformation-template-update-stack.json"
STAGE = "ci"  # the stage ./scripts/package builds by default

HANDLERS = {
    "schedule": "digest.lambdas.schedule",
    "worker": "digest.lambdas.worker",
    "web": "subscribers.lambda_handler.handler",
    "sesEvents": "digest.lambdas.ses_events",
    "importListings": "digest.lambdas.import_listings",
    "testSend": "digest.lambdas.test_send",
    "pageMail": "digest.lambdas.page_mail",
}
SECRET_SETTINGS = ("DIGEST_DATABASE_URL", "DIGEST_SECRET_KEYS")




@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.load(SERVERLESS_YML.read_text(), Loader=_CfnLoader)


def resolve(config: dict, value):
    """Resolve the Serverless variables this file uses (${param:…}, ${self:…}, ${sls:stage}) for STAGE."""
    if not isinstance(value, str):
        return value
    params = {**config["params"].get("default", {}), **config["params"].get(STAGE, {})}

    def lookup(expr: str):
        if expr == "sls:stage":
            return STAGE
        source, _, path = expr.partition(":")
        if source == "opt":  # no CLI options here: the fallback (`${opt:region, 'us-east-1'}`)
            return path.split(",", 1)[1].strip().strip("'\"")
        if source == "param":
            return params[path]
        if source == "self":
            node = config
            for part in path.split("."):
                node = node[part]
            return node
        raise AssertionError(f"unexpected variable ${{{expr}}}")

    while (m := re.search(r"\$\{([a-z]+:[^${}]+)\}", value)):
        found = resolve(config, lookup(m.group(1)))
        if m.group(0) == value:
            return found
        value = value[: m.start()] + str(found) + value[m.end():]
    return value


def test_serverless_yml_is_a_v3_python312_service_deploying_the_built_zip(config):
    assert str(config["frameworkVersion"]) == "3"
    provider = config["provider"]
    assert (provider["runtime"], provider["architecture"]) == ("python3.12", "x86_64")
    assert config["package"]["artifact"] == "build/lambda.zip"
    assert "layers" not in config  # serverless-managed layers make `package` call AWS


@pytest.mark.parametrize("function, handler", HANDLERS.items())
def test_every_handler_resolves_to_a_function_in_a_module_of_the_repo(config, function, handler):
    assert config["functions"][function]["handler"] == handler
    module, _, attr = handler.rpartition(".")
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not importable"
    path = Path(spec.origin).resolve()
    assert ROOT in path.parents, f"{module} resolves to {path}, outside the repo (it would not be in the zip)"
    top = path.relative_to(ROOT).parts[0]
    assert top in ("digest", "subscribers"), f"{module} lives in {top}/, which scripts/package does not ship"
    # Read, not import: importing a handler module builds the app or reaches for AWS.
    tree = ast.parse(path.read_text())
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            defined.update(a.asname or a.name for a in node.names)
    assert attr in defined, f"{path.relative_to(ROOT)} defines no top-level {attr}"


def test_no_function_uses_a_handler_outside_the_list(config):
    assert set(config["functions"]) == set(HANDLERS)


def test_every_function_gets_the_environment_that_points_at_its_settings(config):
    env = config["provider"]["environment"]
    assert resolve(config, env["DIGEST_SSM_PREFIX"]) == f"/jobdigest/{STAGE}"
    assert env["DIGEST_TRANSPORT"] == "ses"
    assert env["DIGEST_SES_CONFIGURATION_SET"] == {"Ref": "SesConfigurationSet"}
    assert env["DIGEST_QUEUE_URL"] == {"Ref": "ShardQueue"}
    assert resolve(config, env["DIGEST_LISTINGS_BUCKET"]) == resolve(config, config["provider"]["s3"]["listings"]["name"])
    assert (env["POWERTOOLS_SERVICE_NAME"], env["POWERTOOLS_METRICS_NAMESPACE"]) == ("jobdigest", "JobDigest")


def test_worker_reports_partial_failures_and_its_concurrency_is_capped(config):
    (event,) = config["functions"]["worker"]["events"]
    sqs = event["sqs"]
    assert sqs["arn"] == {"Fn::GetAtt": ["ShardQueue", "Arn"]}
    assert sqs["functionResponseType"] == "ReportBatchItemFailures"
    assert 1 <= sqs["batchSize"] <= 5
    assert 2 <= int(resolve(config, sqs["maximumConcurrency"])) <= 1000  # SQS's allowed range
    assert "reservedConcurrency" not in config["functions"]["worker"]


def test_shard_queue_has_a_dead_letter_queue_and_outlasts_the_worker(config):
    resources = config["resources"]["Resources"]
    queue = resources["ShardQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert resources[dlq]["Type"] == "AWS::SQS::Queue"
    assert 1 <= int(resolve(config, redrive["maxReceiveCount"])) <= 10
    worker_timeout = int(resolve(config, config["functions"]["worker"]["timeout"]))
    assert int(resolve(config, queue["VisibilityTimeout"])) >= 6 * worker_timeout  # AWS's advice for SQS triggers
    assert worker_timeout <= 900


def test_page_mail_leaves_through_its_queue_and_the_budget_has_an_alarm(config):
    """The web function only queues (it may not send through SES); pageMail sends, fed by that queue."""
    web_env = config["functions"]["web"]["environment"]
    assert web_env["DIGEST_PAGE_MAIL_QUEUE_URL"] == {"Ref": "PageMailQueue"}
    (event,) = config["functions"]["pageMail"]["events"]
    assert event["sqs"]["arn"] == {"Fn::GetAtt": ["PageMailQueue", "Arn"]}
    assert event["sqs"]["functionResponseType"] == "ReportBatchItemFailures"
    resources = config["resources"]["Resources"]
    assert {"Ref": "SesSendPolicy"} not in resources["WebRole"]["Properties"]["ManagedPolicyArns"]
    assert {"Ref": "SesSendPolicy"} in resources["PageMailRole"]["Properties"]["ManagedPolicyArns"]
    alarm = resources["PageMailOverBudgetAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("JobDigest", "PageMailOverBudget")


def test_import_trigger_cannot_fire_on_anything_but_listing_files_under_incoming(config):
    rules = [e["s3"]["rules"] for e in config["functions"]["importListings"]["events"]]
    assert sorted(r[1]["suffix"] for r in rules) == [".csv", ".json", ".jsonl"]
    assert {r[0]["prefix"] for r in rules} == {"incoming/"}
    # A report (`<key>.report.json`) still matches the .json rule: the handler skips it (tests/test_lambda_jobs.py),
    # and the function's role may write nothing but reports.
    statements = config["resources"]["Resources"]["ImportListingsRole"]["Properties"]["Policies"][0]
    puts = [s for s in statements["PolicyDocument"]["Statement"] if s["Action"] == "s3:PutObject"]
    assert [s["Resource"]["Fn::Sub"].endswith("/incoming/*.report.json") for s in puts] == [True]


def test_ses_events_reach_the_topic_the_feedback_function_listens_to(config):
    resources = config["resources"]["Resources"]
    destination = resources["SesEventDestination"]["Properties"]["EventDestination"]
    assert set(destination["MatchingEventTypes"]) >= {"bounce", "complaint", "delivery", "reject"}
    assert destination["SnsDestination"]["TopicARN"] == {"Ref": "SesEventsTopic"}
    (event,) = config["functions"]["sesEvents"]["events"]
    assert event["sns"]["arn"] == {"Ref": "SesEventsTopic"}
    policy = resources["SesEventsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "ses.amazonaws.com"} and "Condition" in policy


def test_the_feedback_function_believes_only_its_own_topic(config):
    """It is told the topic's ARN (messages of any other topic are dropped, digest.sns_verify), and the README
    says how it reaches SNS's signing certificate from private subnets."""
    function = config["functions"]["sesEvents"]
    assert function["environment"]["DIGEST_SNS_TOPIC_ARN"] == {"Ref": "SesEventsTopic"}
    text = SERVERLESS_YML.read_text()
    assert "NAT gateway" in text and "sns.<region>.amazonaws.com" in text
    assert "NAT gateway" in (ROOT / "README.md").read_text()


def test_no_secret_is_written_in_serverless_yml(config):
    environments = [config["provider"]["environment"]] + [f.get("environment", {}) for f in config["functions"].values()]
    for env in environments:
        for name in SECRET_SETTINGS:
            assert name not in env, f"{name} belongs in SSM Parameter Store, not serverless.yml"
    text = SERVERLESS_YML.read_text()
    # ${ssm:…} would resolve at package time and bake the value into the template in clear text.
    assert "${ssm:" not in text
    assert not re.search(r"postgres(ql)?(\+\w+)?://", text)
    assert not re.search(r"\bAKIA[0-9A-Z]{16}\b", text)
    assert not re.search(r"(?i)(password|passwd|secret_?key)\s*:", text)


def test_the_web_function_is_throttled_and_reserved_and_its_domain_can_stand_alone(config):
    web = config["functions"]["web"]
    assert 1 <= int(resolve(config, web["reservedConcurrency"])) <= 100
    extensions = config["resources"]["extensions"]
    throttle = extensions["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    rate, burst = int(resolve(config, throttle["ThrottlingRateLimit"])), int(resolve(config, throttle["ThrottlingBurstLimit"]))
    assert 1 <= rate <= burst <= 5000
    # The execute-api URL is turned off only when the custom domain exists (and the parameter says so).
    assert extensions["HttpApi"]["Properties"]["DisableExecuteApiEndpoint"] == {
        "Fn::If": ["WebOnlyOnDomain", True, False]}
    conditions = config["resources"]["Conditions"]
    assert {"Fn::Condition": "HasWebDomain"} in conditions["WebOnlyOnDomain"]["Fn::And"]  # (`!Condition`, as read here)
    assert resolve(config, config["resources"]["Parameters"]["WebDisableExecuteApi"]["Default"]) == "true"
