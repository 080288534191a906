using GrowLength.Training;

namespace GrowLength.Client.Chaos;

/// <summary>Parses a chaos script: items separated by ';' (or new lines), each <c>kill rank R at step S</c>,
/// <c>leave rank R at step S</c> or <c>join at step S</c>.</summary>
internal static class ChaosScript
{
    private const string Grammar = "write kill rank R at step S, leave rank R at step S or join at step S";

    /// <summary>The script's actions in step order (items of one step keep their written order). Throws
    /// RunInputException naming <paramref name="option"/> and the item at fault.</summary>
    public static IReadOnlyList<ScriptedAction> Parse(string script, string option = "--script")
    {
        var items = script.Split([';', '\n'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) throw new RunInputException(option, $"is empty; {Grammar}, separated by ';' (e.g. \"kill rank 1 at step 5; join at step 12\").");
        var actions = new List<ScriptedAction>();
        for (int i = 0; i < items.Length; i++) actions.Add(ParseItem(items[i], $"{option} item {i + 1} '{items[i]}'"));
        return [.. actions.OrderBy(a => a.AtStep)];
    }

    private static ScriptedAction ParseItem(string item, string subject)
    {
        var words = item.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        switch (words)
        {
            case ["kill" or "leave", "rank", var rank, "at", "step", var step]:
                return new ScriptedAction(words[0] == "kill" ? ChaosActionKind.Kill : ChaosActionKind.Leave,
                    (int)Number(rank, "rank", subject, int.MaxValue), Number(step, "step", subject, long.MaxValue), item);
            case ["join", "at", "step", var step]:
                return new ScriptedAction(ChaosActionKind.Join, null, Number(step, "step", subject, long.MaxValue), item);
            case ["kill" or "leave", ..]:
                throw new RunInputException(subject, $"{words[0]} needs a rank and a step: {words[0]} rank R at step S.");
            case ["join", ..]:
                throw new RunInputException(subject, "join takes a step only: join at step S.");
            default:
                throw new RunInputException(subject, $"unknown action '{words[0]}'; {Grammar}.");
        }
    }

    private static long Number(string text, string what, string subject, long max) =>
        long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value <= max
            ? value
            : throw new RunInputException(subject, $"'{text}' is not a {what} (a whole number, 0 or more).");
}
