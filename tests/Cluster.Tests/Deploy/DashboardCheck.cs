using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>A Grafana dashboard that imports anywhere and plots what the silo exports: the Prometheus data source is the
/// dashboard variable <c>datasource</c> and no uid is written into it; every panel (rows aside) reads that variable and
/// has a query; every query names metrics the silo exports; and an XY chart gets its x and y in one frame per series.</summary>
internal static partial class DashboardCheck
{
    public const string Variable = "datasource";

    public static void Run(DeployCheck check, string file)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(file));
        }
        catch (JsonException e)
        {
            check.Problem(file, $"not valid JSON: {e.Message}");
            return;
        }
        if (root is not JsonObject dashboard)
        {
            check.Problem(file, "not a JSON object");
            return;
        }
        var variables = dashboard["templating"]?["list"] as JsonArray ?? [];
        var source = variables.OfType<JsonObject>().FirstOrDefault(v => (string?)v["name"] == Variable);
        if (source is null || (string?)source["type"] != "datasource" || (string?)source["query"] != "prometheus")
            check.Problem(file, $"no dashboard variable '{Variable}' of type datasource with query prometheus: the data source would be fixed to one Grafana");
        foreach (var (path, uid) in DataSourceUids(dashboard, "$"))
            if (!IsVariable(uid)) check.Problem(file, $"{path}: data source uid '{uid}' is written in; use ${{{Variable}}}");

        foreach (var variable in variables.OfType<JsonObject>().Where(v => (string?)v["type"] == "query"))
        {
            var where = $"variable {(string?)variable["name"]}";
            DataSource(check, file, where, variable["datasource"]);
            var query = variable["query"] is JsonObject q ? (string?)q["query"] : (string?)variable["query"];
            Metrics(check, file, where, query);
        }
        foreach (var annotation in (dashboard["annotations"]?["list"] as JsonArray ?? []).OfType<JsonObject>())
        {
            // Grafana's own "Annotations & Alerts" entry reads Grafana, not Prometheus.
            if ((string?)annotation["datasource"]?["type"] == "grafana") continue;
            var where = $"annotation {(string?)annotation["name"]}";
            DataSource(check, file, where, annotation["datasource"]);
            Metrics(check, file, where, (string?)annotation["expr"] ?? (string?)annotation["target"]?["expr"]);
        }
        var panels = Panels(dashboard["panels"] as JsonArray ?? []).ToList();
        if (panels.Count == 0) check.Problem(file, "no panels");
        foreach (var panel in panels) Panel(check, file, panel);
    }

    private static IEnumerable<JsonObject> Panels(JsonArray panels)
    {
        foreach (var panel in panels.OfType<JsonObject>())
        {
            yield return panel;
            if (panel["panels"] is JsonArray nested)
                foreach (var inner in Panels(nested)) yield return inner;
        }
    }

    private static void Panel(DeployCheck check, string file, JsonObject panel)
    {
        var type = (string?)panel["type"];
        if (type == "row") return;
        var where = $"panel '{(string?)panel["title"]}'";
        DataSource(check, file, where, panel["datasource"]);
        var targets = (panel["targets"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        if (targets.Count == 0) check.Problem(file, $"{where}: no query");
        foreach (var target in targets)
        {
            var at = $"{where} query {(string?)target["refId"]}";
            if (target["datasource"] is not null) DataSource(check, file, at, target["datasource"]);
            var expr = (string?)target["expr"];
            if (string.IsNullOrWhiteSpace(expr)) check.Problem(file, $"{at}: empty expr");
            else Metrics(check, file, at, expr);
        }
        if (type == "xychart") XyChart(check, file, where, panel, targets);
    }

    // An XY chart pairs an x field with y fields inside one data frame. Two Prometheus queries come back as separate
    // frames, so they must be joined row by row first: range tables with the same labels (hence the same rows per
    // timestamp), merged, and (for one series per run) partitioned again by the shared labels; the x and y matchers must
    // name the merged value fields ("Value #A", "Value #B"). Grafana rewrites an XY chart's options as the old format when
    // the panel has no pluginVersion, so it must have one.
    private static void XyChart(DeployCheck check, string file, string where, JsonObject panel, List<JsonObject> targets)
    {
        if (string.IsNullOrEmpty((string?)panel["pluginVersion"]))
            check.Problem(file, $"{where}: an XY chart without pluginVersion: Grafana migrates its options as the old XY chart's and drops the series mapping");
        var transformations = (panel["transformations"] as JsonArray ?? []).OfType<JsonObject>().Select(t => (string?)t["id"]).ToList();
        if (targets.Count > 1)
        {
            if (!transformations.Contains("merge") && !transformations.Contains("joinByField"))
                check.Problem(file, $"{where}: {targets.Count} queries and no merge or joinByField transformation: an XY chart never pairs fields of different frames, so x and y do not join");
            foreach (var target in targets.Where(t => (string?)t["format"] != "table"))
                check.Problem(file, $"{where} query {(string?)target["refId"]}: format is not table, so its series do not merge into rows");
            var labels = targets.Select(t => Grouping((string?)t["expr"] ?? "")).Distinct().ToList();
            if (labels.Count > 1)
                check.Problem(file, $"{where}: the queries group by different labels ({string.Join(" / ", labels)}), so their rows never match");
        }
        var refIds = targets.Select(t => (string?)t["refId"]).ToHashSet();
        foreach (var series in (panel["options"]?["series"] as JsonArray ?? []).OfType<JsonObject>())
            foreach (var axis in new[] { "x", "y" })
            {
                var name = (string?)series[axis]?["matcher"]?["options"];
                if (name is null) continue;
                var refId = name.StartsWith("Value #", StringComparison.Ordinal) ? name["Value #".Length..] : null;
                if (targets.Count > 1 && (refId is null || !refIds.Contains(refId)))
                    check.Problem(file, $"{where}: {axis} is '{name}', not the value field of one of its queries (Value #REFID)");
            }
        if (targets.Count > 1 && (panel["options"]?["series"] as JsonArray ?? []).Count == 0)
            check.Problem(file, $"{where}: no series mapping names its x and y fields");
    }

    private static void DataSource(DeployCheck check, string file, string where, JsonNode? datasource)
    {
        switch (datasource)
        {
            case JsonObject o when IsVariable((string?)o["uid"]):
                return;
            case JsonValue v when IsVariable((string?)v):
                return;
            default:
                check.Problem(file, $"{where}: data source is {datasource?.ToJsonString() ?? "not given"}, not the ${{{Variable}}} variable");
                return;
        }
    }

    private static void Metrics(DeployCheck check, string file, string where, string? expr)
    {
        if (string.IsNullOrWhiteSpace(expr))
        {
            check.Problem(file, $"{where}: no query");
            return;
        }
        var names = ExportedMetrics.NamesIn(expr).ToList();
        if (names.Count == 0) check.Problem(file, $"{where}: the query reads no GrowLength or Orleans metric: {expr}");
        foreach (var name in names)
            if (ExportedMetrics.Problem(name) is { } problem) check.Problem(file, $"{where}: {problem}");
    }

    private static bool IsVariable(string? uid) => uid is "${" + Variable + "}" or "$" + Variable;

    // Every "uid" inside a "datasource" object, wherever it is.
    private static IEnumerable<(string Path, string? Uid)> DataSourceUids(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o)
                {
                    if (key == "datasource" && value is JsonObject source && source.ContainsKey("uid")) yield return ($"{path}.{key}", (string?)source["uid"]);
                    foreach (var inner in DataSourceUids(value, $"{path}.{key}")) yield return inner;
                }
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                    foreach (var inner in DataSourceUids(a[i], $"{path}[{i}]")) yield return inner;
                break;
        }
    }

    // The labels an expression's outermost aggregation keeps ("run" for sum by (run) (...)), or the whole text when none.
    private static string Grouping(string expr) =>
        ByClause().Match(expr) is { Success: true } m
            ? string.Join(",", m.Groups["labels"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Order())
            : "(no by clause)";

    [GeneratedRegex(@"^\s*[a-z_]+\s+by\s*\((?<labels>[^)]*)\)")]
    private static partial Regex ByClause();
}
