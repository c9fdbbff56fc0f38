"""GoogleSQL (ZetaSQL) analysis of BigQuery statements against table schemas, for statements no local engine runs.

  bq-analyze.py --precompile OUT   compile ZetaSQL's WebAssembly module once into OUT (setup does this)
  bq-analyze.py                    read {"tables": [...], "statements": [...]} as JSON on stdin, write results

Input: tables as {"name": str, "columns": [[name, type], ...]} with GoogleSQL type names (STRING, INT64, NUMERIC,
BIGNUMERIC, DATE, TIMESTAMP, BOOL, FLOAT64, JSON); statements as {"id": str, "sql": str, "params": {name: type}}, each
one statement or a script of several separated by semicolons, its parameters typed in the BigQuery Node client's
notation ('DATE', ['DATE'], {'field': 'TYPE'}). Statements are analyzed in order; a view or table a statement creates
(CREATE VIEW / CREATE TABLE AS) joins the catalog for the statements after it. Output, as JSON on stdout:
[{"id", "ok", "resolved": ["ResolvedInsertStmt", ...], "error"}].

ZETASQL_CWASM names the module compiled by --precompile; without it the module is compiled on each run (~35 s CPU).
"""

import json
import os
import sys

import wasmtime
import zetasql.core.wasm_client as wasm_client
from zetasql.wasi import get_wasm_path


class _PrecompiledModule:
    """Stands in for wasmtime.Module inside zetasql: loads the compiled module when ZETASQL_CWASM names one."""

    @staticmethod
    def from_file(engine, path):
        cached = os.environ.get("ZETASQL_CWASM")
        if cached and os.path.exists(cached):
            return wasmtime.Module.deserialize_file(engine, cached)
        return wasmtime.Module.from_file(engine, path)


wasm_client.Module = _PrecompiledModule

from zetasql.api import Analyzer, CatalogBuilder, TableBuilder  # noqa: E402  (after the patch above)
from zetasql.types import (  # noqa: E402
    AnalyzerOptions,
    ArrayType,
    LanguageFeature,
    LanguageOptions,
    ParseResumeLocation,
    ProductMode,
    StructField,
    StructType,
    Type,
    TypeKind,
    ZetaSQLBuiltinFunctionOptions,
)

TYPE_KIND = {
    "STRING": TypeKind.TYPE_STRING,
    "INT64": TypeKind.TYPE_INT64,
    "NUMERIC": TypeKind.TYPE_NUMERIC,
    "BIGNUMERIC": TypeKind.TYPE_BIGNUMERIC,
    "DATE": TypeKind.TYPE_DATE,
    "TIMESTAMP": TypeKind.TYPE_TIMESTAMP,
    "BOOL": TypeKind.TYPE_BOOL,
    "FLOAT64": TypeKind.TYPE_DOUBLE,
    "JSON": TypeKind.TYPE_JSON,
}


def precompile(out):
    config = wasmtime.Config()
    config.shared_memory = True  # as zetasql's own engine is configured, or the compiled module does not load
    module = wasmtime.Module.from_file(wasmtime.Engine(config), str(get_wasm_path()))
    with open(out + ".part", "wb") as f:
        f.write(module.serialize())
    os.replace(out + ".part", out)


def language():
    lang = LanguageOptions.maximum_features()
    lang.product_mode = ProductMode.PRODUCT_EXTERNAL
    # BigQuery runs ALTER COLUMN ... SET DATA TYPE; ZetaSQL marks the feature in development, so the maximum leaves it out.
    lang.enabled_language_features = [*lang.enabled_language_features, LanguageFeature.FEATURE_ALTER_COLUMN_SET_DATA_TYPE]
    return lang


def catalog(tables, lang):
    builder = CatalogBuilder("warehouse").with_builtin_functions(ZetaSQLBuiltinFunctionOptions(language_options=lang))
    for table in tables:
        builder.add_table(table)
    return builder.build()


def type_of(spec):
    """A type in the BigQuery Node client's notation: 'DATE', ['DATE'] (an array), {'field': 'TYPE'} (a struct)."""
    if isinstance(spec, list):
        return Type(type_kind=TypeKind.TYPE_ARRAY, array_type=ArrayType(element_type=type_of(spec[0])))
    if isinstance(spec, dict):
        fields = [StructField(field_name=name, field_type=type_of(t)) for name, t in spec.items()]
        return Type(type_kind=TypeKind.TYPE_STRUCT, struct_type=StructType(field=fields))
    if spec not in TYPE_KIND:
        raise SystemExit(f"bq-analyze: unknown type {spec}")
    return Type(type_kind=TYPE_KIND[spec])


def table_of(spec):
    builder = TableBuilder(spec["name"])
    for name, type_name in spec["columns"]:
        if type_name not in TYPE_KIND:
            raise SystemExit(f"bq-analyze: unknown column type {type_name} ({spec['name']}.{name})")
        builder.add_column(name, TYPE_KIND[type_name])
    return builder.build()


def created_table(resolved):
    """The table a CREATE VIEW / CREATE TABLE AS statement makes, with its output columns, or None."""
    kind = type(resolved).__name__
    if kind not in ("ResolvedCreateViewStmt", "ResolvedCreateTableAsSelectStmt"):
        return None
    builder = TableBuilder(resolved.name_path[-1])
    for column in resolved.output_column_list:
        builder.add_column(column.name, column.column.type)
    return builder.build()


def analyze(request):
    lang = language()
    tables = [table_of(t) for t in request["tables"]]
    results = []
    for statement in request["statements"]:
        # Declared parameters are checked as typed; any other is typed by the analyzer from its use.
        declared = [AnalyzerOptions.QueryParameter(name=name, type=type_of(t)) for name, t in statement.get("params", {}).items()]
        options = AnalyzerOptions(language_options=lang, allow_undeclared_parameters=True, query_parameters=declared)
        analyzer = Analyzer(options, catalog(tables, lang))
        sql = statement["sql"]
        location = ParseResumeLocation(input=sql, byte_position=0)
        encoded = sql.encode("utf-8")
        resolved_kinds = []
        error = None
        try:
            while encoded[location.byte_position :].strip(b" \n\t;"):
                resolved = analyzer.analyze_next_statement(location)
                if resolved is None:
                    break
                resolved_kinds.append(type(resolved).__name__)
                made = created_table(resolved)
                if made is not None:
                    tables = [t for t in tables if t.name.lower() != made.name.lower()] + [made]
                    analyzer = Analyzer(options, catalog(tables, lang))
        except Exception as e:  # the analyzer's own error text is the result
            error = str(e)
        results.append({"id": statement["id"], "ok": error is None, "resolved": resolved_kinds, "error": error})
    return results


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--precompile":
        precompile(sys.argv[2])
        return
    json.dump(analyze(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
