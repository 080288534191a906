using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text.RegularExpressions;
using GrowLength.Training.Telemetry;

namespace GrowLength.Cluster.Tests.Deploy;

/// <summary>The Prometheus names a silo exports, derived from the instruments themselves the way the OpenTelemetry
/// Prometheus exporter names them, so a dashboard query can be checked without a running silo.</summary>
/// <remarks>The GrowLength meter's instruments are read from a live <see cref="TrainingMetrics"/> with a MeterListener;
/// Orleans' from its instrument-name constants (the units of those are not known without the instruments, so a unit
/// suffix is allowed). PrometheusTests checks the same queries against a real scrape.</remarks>
internal static partial class ExportedMetrics
{
    private static readonly string[] HistogramSeries = ["_bucket", "_sum", "_count"];

    /// <summary>Every series name the GrowLength meter exports, e.g. growlength_tokens_total, growlength_step_duration_seconds_bucket.</summary>
    public static IReadOnlySet<string> GrowLength { get; } = ReadGrowLength();

    /// <summary>Orleans' instrument names in Prometheus form, before unit and type suffixes (e.g. orleans_grains).</summary>
    public static IReadOnlySet<string> OrleansBases { get; } = ReadOrleansBases();

    /// <summary>Null when <paramref name="name"/> is exported by a silo; otherwise why not.</summary>
    public static string? Problem(string name)
    {
        if (name.StartsWith("growlength_", StringComparison.Ordinal))
            return GrowLength.Contains(name) ? null : $"'{name}' is not a metric the silo exports (the GrowLength meter exports {string.Join(", ", GrowLength.Order())})";
        if (name.StartsWith("orleans_", StringComparison.Ordinal))
        {
            return Stems(name).Any(OrleansBases.Contains) ? null : $"'{name}' is not one of Orleans' instruments";
        }
        return $"'{name}' is not a GrowLength or Orleans metric";
    }

    /// <summary>Every metric name a PromQL expression reads (growlength_* and orleans_*), quoted strings left out.</summary>
    public static IEnumerable<string> NamesIn(string promql) =>
        MetricName().Matches(QuotedString().Replace(promql, "\"\"")).Select(m => m.Value).Distinct();

    /// <summary>The exporter's name for an instrument: dots and dashes to underscores, the unit as a suffix (annotations
    /// in braces dropped), counters ending in _total, histograms as their three series.</summary>
    internal static IEnumerable<string> PrometheusNames(Instrument instrument)
    {
        var name = Regex.Replace(instrument.Name, "[^a-zA-Z0-9_:]", "_");
        var unit = UnitSuffix(instrument.Unit, instrument.Name);
        if (unit.Length > 0 && !name.EndsWith(unit, StringComparison.Ordinal)) name += unit;
        var kind = instrument.GetType().GetGenericTypeDefinition();
        if (kind == typeof(Counter<>) || kind == typeof(ObservableCounter<>))
            return [name.EndsWith("_total", StringComparison.Ordinal) ? name : name + "_total"];
        if (kind == typeof(Histogram<>)) return HistogramSeries.Select(s => name + s);
        return [name];
    }

    private static string UnitSuffix(string? unit, string instrument) => unit switch
    {
        null or "" => "",
        ['{', .., '}'] => "",
        "s" => "_seconds",
        "ms" => "_milliseconds",
        "By" => "_bytes",
        _ => throw new InvalidOperationException(
            $"instrument {instrument} has unit '{unit}', which ExportedMetrics does not map to the exporter's suffix yet: add it"),
    };

    private static HashSet<string> ReadGrowLength()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var metrics = new TrainingMetrics();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == TrainingMetrics.MeterName)
                    lock (names) names.UnionWith(PrometheusNames(instrument));
            },
        };
        listener.Start();
        if (names.Count == 0) throw new InvalidOperationException($"no instrument of the {TrainingMetrics.MeterName} meter was published");
        return names;
    }

    private static HashSet<string> ReadOrleansBases()
    {
        const string TypeName = "Orleans.Runtime.InstrumentNames";
        var type = Type.GetType($"{TypeName}, Orleans.Core")
            ?? throw new InvalidOperationException($"{TypeName} is not in Orleans.Core: update ExportedMetrics for this Orleans");
        var names = type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => Regex.Replace((string)f.GetRawConstantValue()!, "[^a-zA-Z0-9_:]", "_"))
            .Where(n => n.StartsWith("orleans_", StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);
        return names.Count > 0 ? names : throw new InvalidOperationException($"{TypeName} has no orleans-* names");
    }

    [GeneratedRegex(@"\b(?:growlength|orleans)_[a-zA-Z0-9_:]*")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"""(?:[^""\\]|\\.)*""")]
    private static partial Regex QuotedString();

    // The exporter appends a unit, then a type suffix, to Orleans' instrument names: the name less either, both or neither.
    private static IEnumerable<string> Stems(string name)
    {
        string[] units = ["", "_bytes", "_milliseconds", "_seconds", "_megabytes"];
        string[] types = ["", "_total", "_bucket", "_sum", "_count"];
        foreach (var type in types)
            foreach (var unit in units)
                if (name.EndsWith(unit + type, StringComparison.Ordinal))
                    yield return name[..^(unit + type).Length];
    }
}
