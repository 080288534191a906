using TorchSharp;

namespace GrowLength.Training.Checkpoints;

/// <summary>The safetensors dtype names this project reads and writes, and their TorchSharp scalar types.</summary>
internal static class SafeTensorDTypes
{
    // Names are the ones the safetensors specification uses, so files open in the Python tooling too.
    private static readonly (string Name, torch.ScalarType Type, int Size)[] Known =
    [
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("F64", torch.ScalarType.Float64, 8),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("U8", torch.ScalarType.Byte, 1),
    ];

    public static string Supported => string.Join(", ", Known.Select(k => k.Name));

    public static bool TryFromName(string name, out torch.ScalarType type, out int size)
    {
        foreach (var k in Known)
        {
            if (k.Name == name)
            {
                (type, size) = (k.Type, k.Size);
                return true;
            }
        }
        (type, size) = (default, 0);
        return false;
    }

    public static bool TryFromType(torch.ScalarType type, out string name)
    {
        foreach (var k in Known)
        {
            if (k.Type == type)
            {
                name = k.Name;
                return true;
            }
        }
        name = "";
        return false;
    }
}
