using GrowLength.Training.Native;

namespace GrowLength.Training.Tests.Native;

/// <summary>The glibc allocator settings the hosts apply at start take effect on this platform.</summary>
public sealed class GlibcMallocTuningTests
{
    [Fact]
    public void MalloptAcceptsTheSettingsOnLinux()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.False(GlibcMallocTuning.Apply());
            return;
        }
        // The test process runs under glibc (Debian); mallopt answers 1 for each accepted setting.
        Assert.True(GlibcMallocTuning.Apply());
        Assert.True(GlibcMallocTuning.Applied);
    }
}
