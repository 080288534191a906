using GrowLength.Training.Data;
using GrowLength.Training.Engine;
using GrowLength.Training.Run;

namespace GrowLength.Training.Tests.Engine;

public sealed class TrainingMemoryTests
{
    private static RunSpec Tiny(Func<RunSpec, RunSpec>? change = null) =>
        (change ?? (s => s))(RunSpecPresets.Tiny()).WithVocabularyOf(new ByteTokenizer());

    [Fact]
    public void The_state_is_five_fp32_copies_of_the_parameters_and_the_activations_grow_with_the_micro_batch()
    {
        var spec = Tiny();
        var need = TrainingMemory.Of(spec);
        Assert.Equal(5L * 4 * spec.Model.ParameterCount, need.StateBytes);
        Assert.Equal(4, need.Rows); // 256 micro-batch tokens at length 64
        Assert.Equal(64, need.Length);
        var doubled = TrainingMemory.Of(Tiny(s => s with { Schedule = s.Schedule with { MicroBatchTokens = 512 } }));
        Assert.Equal(need.StateBytes, doubled.StateBytes);
        Assert.Equal(2 * need.ActivationBytes, doubled.ActivationBytes);
    }

    [Fact]
    public void A_model_whose_state_cannot_fit_names_the_model_settings_and_the_numbers()
    {
        var spec = Tiny(s => s with { Model = s.Model with { Dim = 16384, Layers = 64 } });
        var e = Assert.Throws<RunInputException>(() => TrainingMemory.Check(spec, new HostMemory(8L << 30, "a test's figure")));
        Assert.Equal("model", e.Subject);
        Assert.Contains("model.dim=16384", e.Problem);
        Assert.Contains("model.layers=64", e.Problem);
        Assert.Contains($"{8L << 30:N0} bytes", e.Problem);
        Assert.Contains("a test's figure", e.Problem);
    }

    [Fact]
    public void A_micro_batch_that_cannot_fit_beside_a_model_that_can_names_the_micro_batch()
    {
        var spec = Tiny(s => s with { Schedule = s.Schedule with { MicroBatchTokens = 1L << 30 } });
        var need = TrainingMemory.Of(spec);
        var e = Assert.Throws<RunInputException>(() => TrainingMemory.Check(spec, new HostMemory(need.StateBytes + 1, "a test's figure")));
        Assert.Equal("schedule.microBatchTokens", e.Subject);
        TrainingMemory.Check(spec, new HostMemory(need.TotalBytes, "a test's figure"));
    }

    [Fact]
    public void A_shape_too_large_to_count_is_refused_rather_than_wrapped()
    {
        var spec = Tiny(s => s with { Model = s.Model with { Dim = 1 << 30, Heads = 2, Layers = 1 << 20 } });
        var e = Assert.Throws<RunInputException>(() => TrainingMemory.Check(spec, new HostMemory(long.MaxValue, "a test's figure")));
        Assert.Equal("model", e.Subject);
    }

    [Fact]
    public void Host_memory_figures_are_read_from_meminfo_and_cgroup_files()
    {
        Assert.Equal(12_345L * 1024, HostMemory.MemAvailable("MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:      12345 kB\n"));
        Assert.Null(HostMemory.MemAvailable("MemTotal: 1 kB\n"));
        Assert.Null(HostMemory.CgroupHeadroom("max\n", "1000\n", null));
        Assert.Equal(600, HostMemory.CgroupHeadroom("1000\n", "500\n", "anon 300\ninactive_file 100\nactive_file 100\n"));
        Assert.Equal(0, HostMemory.CgroupHeadroom("1000\n", "5000\n", null));
        Assert.True(HostMemory.Available().Bytes > 0);
    }
}
