namespace GrowLength.Client.Chaos;

/// <summary>One silo process of a chaos run and its resident memory at the start (after the first step it trained, or
/// when it started if it never trained) and at the end (null: gone by then).</summary>
/// <param name="Fate">"running", or what chaos did to it ("killed", "left").</param>
internal sealed record SiloMemory(int Silo, int Port, int Pid, bool Primary, string Fate, long? StartBytes, long? EndBytes);
