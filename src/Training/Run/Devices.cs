using static TorchSharp.torch;

namespace GrowLength.Training.Run;

/// <summary>Turns a device name from a spec into a TorchSharp device.</summary>
public static class Devices
{
    /// <summary>auto → cuda when available, else cpu; cuda without CUDA is an error naming the setting.</summary>
    public static Device Resolve(string name)
    {
        if (name == "auto") return cuda.is_available() ? CUDA : CPU;
        if (name == "cpu") return CPU;
        if (!cuda.is_available())
            throw new RunInputException("device", $"'{name}' asked for CUDA, but no CUDA device is available to this build; use device=cpu or auto.");
        return new Device(name);
    }
}
