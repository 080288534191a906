namespace GrowLength.Client.Chaos;

/// <summary>One item of a chaos script: <see cref="Kind"/> (on the silo of <see cref="Rank"/>'s worker, for kill and
/// leave) once the run's completed steps reach <see cref="AtStep"/>.</summary>
/// <param name="Text">the item as written, for messages and the report.</param>
internal sealed record ScriptedAction(ChaosActionKind Kind, int? Rank, long AtStep, string Text);
