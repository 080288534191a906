using System.Runtime.InteropServices;

namespace GrowLength.Training.Native;

/// <summary>Keeps glibc malloc from returning libtorch's large activation buffers to the kernel after every step.</summary>
/// <remarks>
/// By default glibc serves blocks above a (dynamic) threshold with mmap and gives them back with munmap, and trims the
/// heap top above 128 KB, so every training step maps, faults in and unmaps tens of megabytes. Measured side by side on
/// the cpu-demo model (docs/benchmarks.md): 2,145 tokens/s at length 128 with the defaults, 6,017 with these settings —
/// as fast as tcmalloc. Hosts call <see cref="Apply"/> once at start, before libtorch allocates, when tcmalloc is not
/// preloaded; a library never changes process-wide allocator settings on its own.
/// </remarks>
public static class GlibcMallocTuning
{
    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD
    private const int TopPad = -2;        // M_TOP_PAD
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD

    /// <summary>True once <see cref="Apply"/> succeeded in this process.</summary>
    public static bool Applied { get; private set; }

    /// <summary>Sets the mmap threshold to glibc's 64-bit maximum (32 MiB), the trim threshold to 2 GiB and the top pad
    /// to 1 GiB. Returns false where glibc is not the allocator (other systems, or a preloaded tcmalloc ignores it).</summary>
    public static bool Apply()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            Applied = mallopt(MmapThreshold, 32 << 20) == 1
                & mallopt(TrimThreshold, int.MaxValue) == 1
                & mallopt(TopPad, 1 << 30) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl): nothing to tune; the process runs with its allocator as it is.
            Applied = false;
        }
        return Applied;
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);
}
