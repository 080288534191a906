namespace GrowLength.Training.Checkpoints;

/// <summary>One file of a checkpoint as the manifest records it: name, length in bytes and SHA-256 (lowercase hex).</summary>
public sealed record CheckpointPart(string Name, long Bytes, string Sha256);
