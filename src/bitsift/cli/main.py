"""The ``bitsift`` command line: a thin layer over the library.

JSON goes to stdout where a machine reads it (``--json``); tables, progress and notes
go to stderr/stdout for people. Domain errors become a one-line message and exit 1.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from bitsift.core import kernel
from bitsift.core.errors import BitsiftError
from bitsift.core.spec import (
    BINARIZERS,
    DEFAULT_BINARIZER,
    DEFAULT_FUSION,
    DEFAULT_KEYWORD_WEIGHT,
    DEFAULT_MODE,
    DEFAULT_TOP_K,
    FUSIONS,
    MAX_DIMENSION,
    MAX_GROUP_SIZE,
    MAX_TOP_K,
    NAMESPACE_TYPES,
    SEARCH_MODES,
)


class _Command(click.Command):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BitsiftError as exc:  # domain errors become a clean message at the boundary
            raise click.ClickException(f"{exc.name}: {exc.message}") from exc


class _Group(click.Group):
    command_class = _Command
    group_class = type  # subgroups are _Group too


SKIPPED_ERRORS_EXIT = 3  # bitsift ingest --skip-errors: done, but some files could not be read


def _client(ctx: click.Context, **engine_options: Any):
    """Open the data directory (--path) or the server (--url) chosen on the command line."""
    from bitsift.api.client import Client

    opts = ctx.find_root().params
    if opts.get("url"):
        return Client(url=opts["url"], api_key=opts.get("api_key"))
    if opts.get("ray"):
        engine_options["ray"] = opts["ray"]
    return Client(path=opts["path"], **engine_options)


@click.group(cls=_Group)
@click.version_option(package_name="bitsift")
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), envvar="BITSIFT_PATH",
              default=Path("bitsift-data"), show_default=True, help="Data directory (in-process engine).")
@click.option("--url", envvar="BITSIFT_URL", help="Use a bitsift server instead of --path.")
@click.option("--api-key", envvar="BITSIFT_API_KEY", help="API key for --url.")
@click.option("--ray", envvar="BITSIFT_RAY", metavar="ADDRESS",
              help="Open --path as sharded namespaces on a Ray cluster (auto, local, ray://host:port).")
def main(path: Path, url: str | None, api_key: str | None, ray: str | None) -> None:
    """bitsift: exact semantic search over information-theoretic binary codes."""


@main.command()
def info() -> None:
    """Print the kernel paths this CPU supports, as JSON.

    Example: bitsift info
    """
    click.echo(json.dumps({"kernel": kernel.capabilities()}, indent=2))


@main.command()
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), envvar="BITSIFT_PATH",
              default=Path("bitsift-data"), show_default=True, help="Data directory to serve.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--api-key", "api_keys", multiple=True,
              help="Accepted x-api-key value (repeatable); also BITSIFT_API_KEYS=k1,k2.")
@click.option("--ray", "ray_address", envvar="BITSIFT_RAY", metavar="ADDRESS",
              help="Shard namespaces over a Ray cluster: auto, local or ray://host:port "
                   "(needs pip install 'bitsift[ray]').")
@click.option("--replicas", metavar="MIN:MAX",
              help="With --ray: serve from search replicas on Ray Serve that scale with load between MIN and MAX "
                   "(0 scales to zero when idle), one writer (README \"Deployment on Ray\").")
@click.option("--replica-cpus", type=click.FloatRange(0, 64), default=1.0, show_default=True,
              help="CPUs Ray reserves for each search replica (with --replicas; fractions allowed).")
@click.option("--sharded/--unsharded", default=True, show_default=True,
              help="With --replicas: namespaces sharded over Ray actors, or one machine's folders.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Server processes sharing the port and the data directory [default: one per core; "
                   "one with --ray].")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One line per request on stderr.")
@click.option("--public-url", envvar="BITSIFT_PUBLIC_URL", metavar="URL",
              help="How clients reach this server, e.g. https://search.example.com (file upload URLs are "
                   "built on it) [default: each request's own scheme and Host].")
@click.option("--llm-url", envvar="BITSIFT_LLM_URL", metavar="URL",
              help="An OpenAI-compatible chat-completions server that writes /v1/answer's answers, e.g. "
                   "http://127.0.0.1:11434/v1 (Ollama) [default: none: answers are extractive].")
@click.option("--llm-model", envvar="BITSIFT_LLM_MODEL", metavar="NAME", help="The model to ask (with --llm-url).")
@click.option("--snapshot-dir", envvar="BITSIFT_SNAPSHOT_DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Where REST snapshots are written and restored from [default: none: REST snapshots refused].")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="A browser origin allowed to call the API, e.g. http://localhost:3000 (repeatable; "
                   "also BITSIFT_CORS_ORIGINS=a,b) [default: none: CORS off].")
@click.option("--metrics-key", envvar="BITSIFT_METRICS_KEY", metavar="KEY",
              help="The x-api-key /metrics asks for [default: none: /metrics is open, like /health].")
@click.option("--log-format", type=click.Choice(["text", "json"]), envvar="BITSIFT_LOG_FORMAT", default="text",
              show_default=True, help="json: one JSON line per request (with its request id) instead of access lines.")
def serve(path: Path, host: str, port: int, api_keys: tuple[str, ...], ray_address: str | None,
          replicas: str | None, replica_cpus: float, sharded: bool, workers: int | None, access_log: bool, public_url: str | None, llm_url: str | None,
          llm_model: str | None, snapshot_dir: Path | None, cors_origins: tuple[str, ...], metrics_key: str | None,
          log_format: str) -> None:
    """Serve the REST API (OpenAPI docs at /docs).

    Example: bitsift serve --path ./data --port 8080 --api-key secret
    Example: bitsift serve --path ./data --workers 4
    Example: bitsift serve --path /data/bitsift --ray auto
    Example: bitsift serve --path /data/bitsift --ray auto --replicas 0:4 --port 8000
    """
    from bitsift.api.server import serve as run
    from bitsift.api.server.app import api_keys_from

    try:
        keys = api_keys_from(api_keys, os.environ.get("BITSIFT_API_KEYS"))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from bitsift.api.server.app import SNAPSHOT_DIR_ENV, worker_count
    from bitsift.engine.llm import LLM_MODEL_ENV, LLM_URL_ENV, llm_from_env

    if snapshot_dir is not None:
        snapshot_dir.mkdir(parents=True, exist_ok=True)
    from bitsift.api.server import telemetry

    for env, value in ((LLM_URL_ENV, llm_url), (LLM_MODEL_ENV, llm_model),
                       (SNAPSHOT_DIR_ENV, None if snapshot_dir is None else str(snapshot_dir.resolve())),
                       (telemetry.CORS_ORIGINS_ENV, ",".join(cors_origins) or None),
                       (telemetry.METRICS_KEY_ENV, metrics_key), (telemetry.LOG_FORMAT_ENV, log_format)):
        if value:
            os.environ[env] = value  # every worker process builds its engine's LLM from these
    try:
        llm = llm_from_env()
    except (ValueError, BitsiftError) as exc:
        raise click.UsageError(str(exc)) from None
    if replicas is not None:
        if ray_address is None:
            raise click.UsageError("--replicas needs --ray ADDRESS (the cluster the replicas run on)")
        from bitsift.api.server import serverless

        try:
            low, high = serverless.parse_replicas(replicas)
            scaling = serverless.Scaling(low, high, replica_cpus=replica_cpus)
        except BitsiftError as exc:
            raise click.UsageError(str(exc)) from None
        serverless.serve_until_stopped(path, scaling, sharded, keys, host, port, public_url, ray_address)
        return
    n = worker_count(ray_address, workers)
    answers = f"answers by {llm.model} at {llm.url}" if llm else "extractive answers"
    click.echo(f"bitsift serving {path} on http://{host}:{port} ({'API keys required' if keys else 'no auth'}, "
               f"{n} worker{'s' if n > 1 else ''}, {answers})", err=True)
    run(str(path), host=host, port=port, api_keys=keys, ray=ray_address, workers=n,
        access_log=access_log and log_format != "json",
        public_url=public_url)


@main.group(cls=_Group)
def jobs() -> None:
    """Follow and cancel ingestion jobs (document and file uploads, embedded in the background)."""


@jobs.command("list")
@click.option("--namespace", help="Only this namespace's jobs.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.pass_context
def jobs_list(ctx: click.Context, namespace: str | None, limit: int) -> None:
    """Recent jobs, newest first: id, namespace, state, chunks done of all.

    Example: bitsift --url http://127.0.0.1:8080 jobs list --namespace papers
    """
    with _client(ctx) as client:
        for job in client.jobs(namespace, limit):
            click.echo(f"{job['job_id']}  {job['namespace']}  {job['state']:9}  "
                       f"{job['chunks_done']}/{job['chunks']} chunks  {job['documents_failed']} failed")


@jobs.command("show")
@click.argument("job_id")
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str) -> None:
    """One job's progress and failures, as JSON.

    Example: bitsift jobs show job_0123...
    """
    with _client(ctx) as client:
        click.echo(json.dumps(client.job(job_id), indent=2))


@jobs.command("cancel")
@click.argument("job_id")
@click.pass_context
def jobs_cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a job: its documents not written yet are dropped; prints the job as JSON.

    Example: bitsift jobs cancel job_0123...
    """
    with _client(ctx) as client:
        click.echo(json.dumps(client.cancel_job(job_id), indent=2))


@main.group(cls=_Group)
def ns() -> None:
    """Create, list, inspect and delete namespaces."""


@ns.command("create")
@click.argument("name")
@click.option("--type", "ns_type", type=click.Choice(NAMESPACE_TYPES),
              help="Default: vector when --dimension is given, else text.")
@click.option("--dimension", type=click.IntRange(1, MAX_DIMENSION), help="Required for vector namespaces.")
@click.option("--binarizer", type=click.Choice(BINARIZERS), default=DEFAULT_BINARIZER, show_default=True)
@click.option("--model", help="Embedding model of a text namespace (default: the bundled local model).")
@click.option("--shards", type=click.IntRange(1, 1024), help="Ray shards (with --ray; default one per node).")
@click.option("--exist-ok", is_flag=True, help="An existing namespace with the same parameters is not an error.")
@click.pass_context
def ns_create(ctx: click.Context, name: str, ns_type: str | None, dimension: int | None, binarizer: str,
              model: str | None, shards: int | None, exist_ok: bool) -> None:
    """Create a namespace and print it as JSON.

    Example: bitsift ns create papers
    Example: bitsift ns create embeddings --dimension 384 --exist-ok
    """
    with _client(ctx) as client:
        kwargs: dict[str, Any] = {"type": ns_type, "dimension": dimension, "binarizer": binarizer,
                                  "exist_ok": exist_ok}
        if model:
            kwargs["model"] = model
        if shards is not None:
            kwargs["shards"] = shards
        click.echo(json.dumps(client.create_namespace(name, **kwargs), indent=2))


@ns.command("list")
@click.pass_context
def ns_list(ctx: click.Context) -> None:
    """List namespaces as JSON.

    Example: bitsift ns list
    """
    with _client(ctx) as client:
        click.echo(json.dumps(client.list_namespaces(), indent=2))


@ns.command("info")
@click.argument("name")
@click.pass_context
def ns_info(ctx: click.Context, name: str) -> None:
    """Describe a namespace, with code diagnostics (per-bit entropy), as JSON.

    Example: bitsift ns info papers
    """
    with _client(ctx) as client:
        click.echo(json.dumps({**client.describe_namespace(name), "diagnostics": client.diagnostics(name)}, indent=2))


@ns.command("compact")
@click.argument("name")
@click.pass_context
def ns_compact(ctx: click.Context, name: str) -> None:
    """Rewrite a namespace's files without its deleted rows (an older namespace is migrated too).

    Example: bitsift ns compact papers
    """
    with _client(ctx) as client:
        click.echo(json.dumps(client.compact(name)))


@main.command()
@click.argument("name")
@click.argument("snapshot")
@click.pass_context
def snapshot(ctx: click.Context, name: str, snapshot: str) -> None:
    """Copy a namespace, while writes continue, into a new folder (with --url: a snapshot name
    under the server's --snapshot-dir). It holds a prefix of the committed batches.

    Example: bitsift snapshot papers backups/papers-2026-12-02
    """
    with _client(ctx) as client:
        click.echo(json.dumps(client.snapshot(name, snapshot), indent=2))


@main.command()
@click.argument("snapshot")
@click.argument("name")
@click.pass_context
def restore(ctx: click.Context, snapshot: str, name: str) -> None:
    """Make a new namespace from a snapshot (with --url: a snapshot name on the server).

    Example: bitsift restore backups/papers-2026-12-02 papers-restored
    """
    with _client(ctx) as client:
        click.echo(json.dumps(client.restore(snapshot, name), indent=2))


@main.command("export")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.pass_context
def export_command(ctx: click.Context, name: str, file: Path) -> None:
    """Write every live item (id, vector, text, metadata) as JSON lines; - for stdout.

    Example: bitsift export papers papers.jsonl
    """
    from bitsift.api import transfer

    with _client(ctx) as client:
        total = client.describe_namespace(name)["item_count"]
        with click.progressbar(length=total, label=f"exporting {name}", file=sys.stderr) as bar, \
                click.open_file(str(file), "w", encoding="utf-8", atomic=str(file) != "-") as out:
            count = transfer.export_namespace(client, name, out, bar.update)
    click.echo(f"exported {count:,} items of {name} to {file}", err=True)


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, exists=True, path_type=Path))
@click.argument("name")
@click.option("--binarizer", type=click.Choice(BINARIZERS), help="[default: the exported namespace's]")
@click.pass_context
def import_command(ctx: click.Context, file: Path, name: str, binarizer: str | None) -> None:
    """Make a new vector namespace from an export (bitsift export), with any binarizer.

    Example: bitsift import papers.jsonl papers-sign --binarizer sign
    """
    from bitsift.api import transfer

    with click.open_file(str(file), "r", encoding="utf-8") as lines, _client(ctx) as client:
        first = lines.readline()
        header = transfer.read_header(iter([first]))  # for the progress bar's length
        with click.progressbar(length=header.get("items") or 0, label=f"importing into {name}",
                               file=sys.stderr) as bar:
            count = transfer.import_namespace(client, itertools.chain([first], lines), name, binarizer, bar.update)
    click.echo(json.dumps({"namespace_name": name, "imported": count}))


@ns.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def ns_delete(ctx: click.Context, name: str, yes: bool) -> None:
    """Delete a namespace and everything in it.

    Example: bitsift ns delete papers --yes
    """
    if not yes:
        click.confirm(f"Delete namespace {name!r} and all its items?", abort=True, err=True)
    with _client(ctx) as client:
        click.echo(json.dumps(client.delete_namespace(name)))


@main.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--batch", type=click.IntRange(1, 10_000), default=64, show_default=True,
              help="Documents per upload call.")
@click.option("--chunk-size", type=click.IntRange(50, 100_000), default=1000, show_default=True,
              help="Characters per chunk (in-process only; a server uses its own setting).")
@click.option("--chunk-overlap", type=click.IntRange(0, 50_000), default=200, show_default=True)
@click.option("--create/--no-create", default=True, show_default=True,
              help="Create the text namespace if it does not exist.")
@click.option("--replace", is_flag=True,
              help="Replace documents of the same id that came from another file (an error otherwise).")
@click.option("--skip-errors", is_flag=True,
              help=f"Go on past unreadable files and list them at the end (exit status {SKIPPED_ERRORS_EXIT}).")
@click.pass_context
def ingest(ctx: click.Context, name: str, paths: tuple[Path, ...], batch: int, chunk_size: int,
           chunk_overlap: int, create: bool, replace: bool, skip_errors: bool) -> None:
    """Ingest files and folders (.txt .md .rst .html .pdf .csv .json .jsonl .docx .xlsx) into a
    text namespace. Ids: <folder name>/<path in it> for a folder, the name of a file given alone.

    Example: bitsift ingest papers ./docs report.pdf notes.md
    """
    from bitsift.text.ingest import ingest_paths

    options = {} if ctx.find_root().params.get("url") else {"chunk_size": chunk_size, "chunk_overlap": chunk_overlap}
    with _client(ctx, **options) as client:
        summary = ingest_paths(client, name, list(paths), batch=batch, create=create, replace=replace,
                               skip_errors=skip_errors)
    click.echo(json.dumps(summary, indent=2))
    if summary["errors"]:
        ctx.exit(SKIPPED_ERRORS_EXIT)


def _filter_option(filter_json: str | None) -> Any:
    try:
        return json.loads(filter_json) if filter_json else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--filter") from None


FILTER_HELP = 'Metadata filter as JSON, e.g. \'{"year": {"$gte": 2020}}\'.'


@main.command()
@click.argument("names")
@click.argument("query")
@click.option("--top-k", type=click.IntRange(1, MAX_TOP_K), default=DEFAULT_TOP_K, show_default=True)
@click.option("--threshold", type=click.FloatRange(0, 1), help="Drop results scoring below this.")
@click.option("--filter", "filter_json", help=FILTER_HELP)
@click.option("--mode", type=click.Choice(SEARCH_MODES), help=f"Search mode [default: {DEFAULT_MODE}].")
@click.option("--keywords", help="keyword, hybrid: the words to look for [default: the query].")
@click.option("--fusion", type=click.Choice(FUSIONS), help=f"hybrid: how rankings fuse [default: {DEFAULT_FUSION}].")
@click.option("--keyword-weight", type=click.FloatRange(0, 1),
              help=f"hybrid: the keyword ranking's weight [default: {DEFAULT_KEYWORD_WEIGHT}].")
@click.option("--group-by", help="The best hits per value of this metadata field, e.g. document_id.")
@click.option("--group-size", type=click.IntRange(1, MAX_GROUP_SIZE), help="With --group-by: hits per group [default: 1].")
@click.option("--json", "as_json", is_flag=True, help="Print the raw response as JSON.")
@click.pass_context
def search(ctx: click.Context, names: str, query: str, top_k: int, threshold: float | None,
           filter_json: str | None, mode: str | None, keywords: str | None, fusion: str | None,
           keyword_weight: float | None, group_by: str | None, group_size: int | None, as_json: bool) -> None:
    """Search one or more comma-separated text namespaces with a text query.

    Example: bitsift search papers "boundary layer transition" --top-k 5 --mode hybrid
    """
    flt = _filter_option(filter_json)
    with _client(ctx) as client:
        res = client.search([n for n in names.split(",") if n], query, top_k=top_k, threshold=threshold, filter=flt,
                            mode=mode, keywords=keywords, fusion=fusion, keyword_weight=keyword_weight,
                            group_by=group_by, group_size=group_size)
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    from bitsift.cli.render import print_results

    print_results(query, res)


@main.command()
@click.argument("name")
@click.option("--filter", "filter_json", help=FILTER_HELP)
@click.pass_context
def count(ctx: click.Context, name: str, filter_json: str | None) -> None:
    """Print how many items a namespace holds, or how many match a filter.

    Example: bitsift count papers --filter '{"source": "notes.md"}'
    """
    flt = _filter_option(filter_json)
    with _client(ctx) as client:
        click.echo(client.count(name, flt))


@main.command()
@click.argument("name")
@click.argument("ids", nargs=-1, required=True)
@click.option("--metadata", "metadata_json", help='Keys to set, as a JSON object, e.g. \'{"reviewed": true}\'.')
@click.option("--unset", multiple=True, help="A metadata key to remove (repeatable).")
@click.option("--text", help="The new text (a text namespace embeds it again).")
@click.pass_context
def update(ctx: click.Context, name: str, ids: tuple[str, ...], metadata_json: str | None, unset: tuple[str, ...],
           text: str | None) -> None:
    """Change items' metadata or text, vectors untouched, and print the result as JSON.

    Example: bitsift update papers doc-7 --metadata '{"reviewed": true}' --unset draft
    """
    try:
        metadata = json.loads(metadata_json) if metadata_json else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from None
    with _client(ctx) as client:
        click.echo(json.dumps(client.update(name, list(ids), metadata=metadata, text=text, unset=list(unset) or None),
                              indent=2))


@main.command("mcp")
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True,
              help="stdio (an agent starts this as a subprocess) or streamable HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --transport http.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="With --transport http.")
@click.option("--read-only", is_flag=True, help="Leave out the tools that write (upload_documents).")
@click.pass_context
def mcp_command(ctx: click.Context, transport: str, host: str, port: int, read_only: bool) -> None:
    """Serve the Model Context Protocol: tools to list namespaces, search, answer, get items and
    upload documents, over the data folder (--path) or server (--url) chosen.

    Example: bitsift --path ./data mcp --read-only
    Example: bitsift --url http://127.0.0.1:8080 mcp --transport http --port 8765
    """
    from bitsift.integrations.mcp import build_server

    with _client(ctx) as client:
        server = build_server(client, read_only=read_only)
        if transport == "stdio":
            server.run("stdio")
        else:
            click.echo(f"bitsift MCP on http://{host}:{port}/mcp", err=True)
            server.run("streamable-http", host=host, port=port)


@main.command("eval")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the rows as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a calibration plot (PNG).")
@click.option("--model", help="Embedding model (default: the bundled local model).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              help="Embedding cache folder [default: ~/.cache/bitsift/eval].")
def evaluate_command(folders: tuple[Path, ...], json_out: Path | None, plot: Path | None, model: str | None,
                     cache: Path | None) -> None:
    """Retrieval quality (nDCG@10, Recall@100, MRR@10) and latency of every search mode on
    BEIR-layout folders, plus label calibration; a Markdown table on stdout.

    Example: bitsift eval ../shared/data/cranfield --json eval.json --plot calibration.png
    """
    from bitsift.eval import evaluate
    rows, calibration = evaluate.evaluate(list(folders), model=model, cache=cache)
    click.echo(evaluate.markdown_table(rows))
    click.echo("\nlabel calibration (top-10 results of the default mode):")
    for p in calibration["per_label"]:
        share = "-" if p["judged_relevant"] is None else f"{p['judged_relevant']:.2f}"
        click.echo(f"  {p['label']:<20} {p['results']:>6} results, judged relevant {share}")
    click.echo(f"  higher label -> higher share: {calibration['monotone']}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(rows, indent=1))
        json_out.with_name(json_out.stem + "-calibration.json").write_text(json.dumps(calibration, indent=1))
    if plot:
        evaluate.plot_calibration(calibration, plot)


@main.command()
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-data"),
              show_default=True, help="Data directory (recreated).")
@click.option("--synthetic", is_flag=True, help="Ingest synthetic vectors instead of the Cranfield corpus.")
@click.option("--count", type=click.IntRange(1_000, 10_000_000), default=100_000, show_default=True,
              help="With --synthetic: how many vectors.")
@click.option("--dimension", type=click.IntRange(8, 3072), default=384, show_default=True,
              help="With --synthetic: their dimension.")
def demo(path: Path, synthetic: bool, count: int, dimension: int) -> None:
    """Ingest a bundled real corpus (Cranfield, 1,400 abstracts), run queries, print ranked passages.

    Example: bitsift demo
    """
    from bitsift.cli import demo as cli_demo
    if synthetic:
        cli_demo.synthetic_demo(path, count, dimension)
    else:
        cli_demo.cranfield_demo(path)


if __name__ == "__main__":
    main()
