"""Checks template.yaml for mistakes that cfn-lint and sam validate accept.

- Every function runs on provided.al2023 with handler `bootstrap` (the Rust runtime).
- Every function names a distinct cargo-lambda binary that exists under functions/.
- Every SQS event source reports partial batch failures, so one bad message does not
  make Lambda retry its whole batch.
- Every public route reaches its function through an HttpApi event.
"""

import pathlib
import sys

import yaml


class Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


Loader.add_multi_constructor("!", _intrinsic)


# (method, path, binary) of every public route, as the router in shared/src/http/router.rs
# assigns them.
ROUTES = [
    ("POST", "/api/v1/zoom_oauth_connections", "oauth-callback"),
    ("POST", "/api/v1/zoom_oauth_connect_sessions", "oauth-callback"),
    ("GET", "/oauth/zoom/callback", "oauth-callback"),
    ("GET", "/api/v1/zoom_oauth_connections", "list-connections"),
    ("GET", "/api/v1/zoom_oauth_connections/{id}", "list-connections"),
    ("DELETE", "/api/v1/zoom_oauth_connections/{id}", "list-connections"),
    ("GET", "/api/v1/zoom_oauth_connections/{id}/meetings", "list-connections"),
    ("POST", "/external_webhooks/zoom/oauth_apps/{id}", "zoom-webhook"),
    ("POST", "/api/v1/zoom_oauth_apps", "manage-apps"),
    ("GET", "/api/v1/zoom_oauth_apps", "manage-apps"),
    ("GET", "/api/v1/zoom_oauth_apps/{id}", "manage-apps"),
    ("PATCH", "/api/v1/zoom_oauth_apps/{id}", "manage-apps"),
    ("DELETE", "/api/v1/zoom_oauth_apps/{id}", "manage-apps"),
    ("POST", "/api/v1/webhooks", "manage-apps"),
    ("GET", "/api/v1/webhooks", "manage-apps"),
    ("GET", "/api/v1/webhooks/{id}", "manage-apps"),
    ("DELETE", "/api/v1/webhooks/{id}", "manage-apps"),
    ("POST", "/api/v1/bots", "launch-bot"),
    ("GET", "/api/v1/bots", "launch-bot"),
    ("GET", "/api/v1/bots/{id}", "launch-bot"),
]


def main(path):
    template = yaml.load(pathlib.Path(path).read_text(), Loader=Loader)
    defaults = template.get("Globals", {}).get("Function", {})
    problems = []
    binaries = set()
    functions = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    for name, resource in functions.items():
        properties = resource.get("Properties", {})
        runtime = properties.get("Runtime", defaults.get("Runtime"))
        handler = properties.get("Handler", defaults.get("Handler"))
        if runtime != "provided.al2023":
            problems.append(f"{name}: Runtime is {runtime!r}, expected 'provided.al2023'")
        if handler != "bootstrap":
            problems.append(f"{name}: Handler is {handler!r}, expected 'bootstrap'")
        metadata = resource.get("Metadata", {})
        binary = metadata.get("Binary")
        if metadata.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{name}: BuildMethod must be rust-cargolambda")
        if binary in binaries:
            problems.append(f"{name}: binary {binary!r} is used twice")
        binaries.add(binary)
        if not pathlib.Path("functions", str(binary), "Cargo.toml").exists():
            problems.append(f"{name}: no crate functions/{binary}")
        for event_name, event in properties.get("Events", {}).items():
            if event["Type"] == "SQS":
                types = event["Properties"].get("FunctionResponseTypes")
                if types != ["ReportBatchItemFailures"]:
                    problems.append(
                        f"{name}.{event_name}: FunctionResponseTypes is {types!r}, "
                        "expected ['ReportBatchItemFailures']"
                    )
    served = set()
    for name, resource in functions.items():
        binary = resource.get("Metadata", {}).get("Binary")
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                served.add((props["Method"].upper(), props["Path"], binary))
    for method, route, binary in ROUTES:
        if (method, route, binary) not in served and ("ANY", route, binary) not in served:
            problems.append(f"{method} {route} has no HttpApi event on {binary}")
    crates = {p.name for p in pathlib.Path("functions").iterdir() if (p / "Cargo.toml").exists()}
    for missing in sorted(crates - binaries):
        problems.append(f"functions/{missing} has no function in the template")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"template checks passed for {len(functions)} functions")


if __name__ == "__main__":
    main(sys.argv[1])
