using System.Security.Cryptography;
using System.Text.Json.Nodes;
using GrowLength.Training.Checkpoints;

namespace GrowLength.Training.Tests.Checkpoints;

/// <summary>JSON form, parsing errors and folder hashing of <see cref="CheckpointManifest"/>.</summary>
public sealed class CheckpointManifestTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly string Hash64 = new('a', 64);

    private static CheckpointManifest Sample() => new(
        120,
        new DateTimeOffset(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero),
        new Dictionary<string, string> { ["stage"] = "2", ["length"] = "512" },
        [new CheckpointPart("model.safetensors", 1234, Hash64), new CheckpointPart("rng.bin", 0, new string('0', 64))]);

    private static string ValidJson() => Sample().ToJson();

    private static void AssertRejected(string json, string fragment)
    {
        var e = Assert.Throws<RunInputException>(() => CheckpointManifest.Parse(json, "/x/step-000000000120/manifest.json"));
        Assert.Equal("/x/step-000000000120/manifest.json", e.Subject);
        Assert.Contains(fragment, e.Problem);
    }

    private static string Edit(Action<JsonObject> change)
    {
        var node = JsonNode.Parse(ValidJson())!.AsObject();
        change(node);
        return node.ToJsonString();
    }

    [Fact]
    public void JsonRoundTrips()
    {
        var original = Sample();
        var parsed = CheckpointManifest.Parse(original.ToJson(), "m");

        Assert.Equal(original.Step, parsed.Step);
        Assert.Equal(original.CreatedUtc, parsed.CreatedUtc);
        Assert.Equal(original.Properties.OrderBy(p => p.Key), parsed.Properties.OrderBy(p => p.Key));
        Assert.Equal(original.Parts, parsed.Parts);
        Assert.Equal(CheckpointManifest.FormatName, JsonNode.Parse(original.ToJson())!["format"]!.GetValue<string>());
    }

    [Fact]
    public void InvalidJsonIsRejected() => AssertRejected("{\"step\": ", "not valid JSON");

    [Theory]
    [InlineData("format")]
    [InlineData("step")]
    [InlineData("createdUtc")]
    [InlineData("properties")]
    [InlineData("parts")]
    public void EachMissingFieldIsNamed(string field) =>
        AssertRejected(Edit(o => o.Remove(field)), $"'{field}' is missing");

    [Fact]
    public void MissingPartFieldsAreNamed()
    {
        AssertRejected(Edit(o => o["parts"]![1]!.AsObject().Remove("sha256")), "'parts[1].sha256' is missing");
        AssertRejected(Edit(o => o["parts"]![0]!.AsObject().Remove("bytes")), "'parts[0].bytes' is missing");
    }

    [Fact]
    public void WrongValuesAreRejected()
    {
        AssertRejected(Edit(o => o["format"] = "growlength-checkpoint/2"), "format is 'growlength-checkpoint/2'");
        AssertRejected(Edit(o => o["step"] = -1), "step -1");
        AssertRejected(Edit(o => o["step"] = "120"), "'step' must be a number");
        AssertRejected(Edit(o => o["createdUtc"] = "yesterday"), "createdUtc 'yesterday'");
        AssertRejected(Edit(o => o["properties"]!["stage"] = 2), "property 'stage' must be a string");
        AssertRejected(Edit(o => o["parts"]![0]!["sha256"] = "abc"), "is not 64 hex digits");
        AssertRejected(Edit(o => o["parts"]![0]!["bytes"] = -5), "parts[0].bytes -5");
        AssertRejected(Edit(o => o["parts"]![1]!["name"] = "model.safetensors"), "listed twice");
        AssertRejected("[]", "must be a JSON object");
    }

    [Fact]
    public void PartNamesThatLeaveTheFolderAreRejected()
    {
        AssertRejected(Edit(o => o["parts"]![0]!["name"] = "../../etc/passwd"), "parts[0]");
        AssertRejected(Edit(o => o["parts"]![0]!["name"] = "/etc/passwd"), "parts[0]");
        AssertRejected(Edit(o => o["parts"]![0]!["name"] = "manifest.json"), "reserved for the manifest");
    }

    [Fact]
    public void LoadNamesTheMissingFile()
    {
        var path = _temp.File("manifest.json");
        Assert.Equal(path, Assert.Throws<RunInputException>(() => CheckpointManifest.Load(path)).Subject);
    }

    [Fact]
    public void ComputeHashesEveryFileButAManifest()
    {
        var a = new byte[] { 1, 2, 3 };
        var b = new byte[10_000];
        Random.Shared.NextBytes(b);
        File.WriteAllBytes(_temp.File("b.bin"), b);
        File.WriteAllBytes(_temp.File("a.bin"), a);
        File.WriteAllText(_temp.File("manifest.json"), "{}");

        var manifest = CheckpointManifest.Compute(_temp.Path, 5, new Dictionary<string, string> { ["k"] = "v" });

        Assert.Equal(5, manifest.Step);
        Assert.Equal("v", manifest.Properties["k"]);
        Assert.Equal(
            [new CheckpointPart("a.bin", 3, Convert.ToHexStringLower(SHA256.HashData(a))),
             new CheckpointPart("b.bin", 10_000, Convert.ToHexStringLower(SHA256.HashData(b)))],
            manifest.Parts);
        CheckpointStore.Verify(_temp.Path, manifest);
    }
}
