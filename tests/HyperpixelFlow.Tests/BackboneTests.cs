using HyperpixelFlow.Backbones;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

public class BackboneTests
{
    /// <summary>Map size and channels of every candidate id for a 300 x 225 (W x H) input.</summary>
    [Theory]
    [InlineData("resnet18-cntk")]
    [InlineData("resnet18")]
    [InlineData("resnet34")]
    [InlineData("resnet50")]
    [InlineData("resnet101")]
    [InlineData("fcn101")]
    public void Every_candidate_has_the_expected_size_and_channels(string name)
    {
        var spec = BackboneRegistry.Get(name);
        using var network = new ResNet(spec.Architecture);
        var ids = Enumerable.Range(0, spec.Architecture.CandidateCount).ToList();
        using var input = randn(1, 3, 225, 300);
        var features = network.ExtractCandidates(input, ids);
        var geometry = ResNetBackbone.ComputeCandidateGeometry(spec.Architecture);
        for (int id = 0; id < ids.Count; id++)
        {
            int stage = id == 0 ? -1 : spec.Architecture.BlockPosition(id).Stage;
            long channels = id == 0 ? 64 : (64L << stage) * spec.Architecture.Expansion;
            // ceil-halving: stem /4; then /8, /16, /32 unless dilated (FCN stays at /8)
            long h = 225, w = 300;
            foreach (var _ in Enumerable.Range(0, 2)) { h = (h + 1) / 2; w = (w + 1) / 2; }
            for (int s = 1; s <= stage; s++) if (!spec.Architecture.IsDilated(s)) { h = (h + 1) / 2; w = (w + 1) / 2; }
            Assert.Equal(new[] { 1, channels, h, w }, features[id].shape);
            Assert.Equal(300.0 / w, geometry[id].Jump, 0.51 * geometry[id].Jump); // jump ~ image / map size
        }
        foreach (var f in features) f.Dispose();
    }

    [Fact]
    public void Paper_tables_for_the_default_backbone_give_these_map_sizes()
    {
        var spec = BackboneRegistry.Get("resnet18-cntk");
        using var network = new ResNet(spec.Architecture);
        using var input = randn(1, 3, 225, 300);
        var f = network.ExtractCandidates(input, [0, 2, 4, 5, 7, 9]);
        Assert.Equal(new long[] { 1, 64, 57, 75 }, f[0].shape);
        Assert.Equal(new long[] { 1, 64, 57, 75 }, f[1].shape);
        Assert.Equal(new long[] { 1, 128, 29, 38 }, f[2].shape);
        Assert.Equal(new long[] { 1, 256, 15, 19 }, f[3].shape);
        Assert.Equal(new long[] { 1, 512, 8, 10 }, f[4].shape);
        Assert.Equal(new long[] { 1, 512, 8, 10 }, f[5].shape);
        foreach (var t in f) t.Dispose();
    }

    /// <summary>Random weights with non-trivial batch-norm statistics (scale, shift, mean, variance all away from 1/0).</summary>
    private static void Randomize(ResNet network)
    {
        using (no_grad())
            foreach (var (name, p) in network.state_dict()) if (p.is_floating_point()) p.copy_(randn_like(p).mul(0.1).add(name.Contains("running_var") ? 1.5 : 0));
    }

    [Fact]
    public void Folding_keeps_the_norm_epsilon_where_variances_are_tiny()
    {
        using var conv = nn.Conv2d(4, 6, 3, stride: 2, padding: 1, bias: false);
        using var norm = nn.BatchNorm2d(6);
        using (no_grad())
        {
            norm.running_var!.copy_(rand(6).mul(2e-5));   // comparable to eps = 1e-5
            norm.running_mean!.copy_(randn(6));
            norm.weight!.copy_(randn(6));
            norm.bias!.copy_(randn(6));
        }
        norm.eval();
        using var input = randn(1, 4, 9, 11);
        using var expected = norm.forward(conv.forward(input));
        using var folded = FoldedConv.From(conv, norm, 2, 1, 1, channelsLast: true);
        using var actual = folded.Apply(FoldedResNet.ToChannelsLast(input));
        double error = (expected - actual).abs().max().ToDouble(), scale = expected.abs().max().ToDouble();
        Assert.True(error <= 1e-5 * scale, $"max difference {error} at scale {scale}");
    }

    /// <summary>
    /// The prepacked path runs the convolution conv2d runs, so it must give its bits: every geometry of the ResNets
    /// (stem, 3 x 3, strided, 1 x 1 shortcut, dilated) and a ViT's token projections, at the size the weight was packed
    /// for and at others (another size may want another weight layout: oneDNN then reorders the packed weight), down to
    /// sizes where conv2d leaves oneDNN for its own im2col path (and so must the prepacked convolution).
    /// </summary>
    [SkippableTheory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void Prepacked_convolutions_give_the_bits_of_conv2d(ScalarType type)
    {
        Skip.If(type == ScalarType.BFloat16 && !BackbonePrecision.CpuHasBFloat16, "this CPU has no bf16 arithmetic: bf16 never runs here");
        Assert.True(PrepackedConvolution.IsAvailable, "libtorch's oneDNN operators did not load: every convolution reorders its weight again");
        var geometries = new (int In, int Out, int Kernel, int Stride, int Padding, int Dilation)[]
        {
            (3, 64, 7, 2, 3, 1), (64, 64, 3, 1, 1, 1), (64, 128, 3, 2, 1, 1), (64, 128, 1, 2, 0, 1), (96, 160, 3, 1, 2, 2),
            (48, 144, 1, 1, 0, 1),   // a ViT's token projection: tokens as an N x 1 image
        };
        foreach (var (inputs, outputs, kernel, stride, padding, dilation) in geometries)
        {
            using var scope = NewDisposeScope();
            var weight = FoldedResNet.ToChannelsLast(randn(outputs, inputs, kernel, kernel).to(type));
            var bias = randn(outputs).to(type);
            using var convolution = new PrepackedConvolution(weight, bias, stride, padding, dilation);
            foreach (var (height, width) in new[] { (37, 53), (19, 83), (100, 75), (497, 1), (9, 7) })
            {
                var x = FoldedResNet.ToChannelsLast(randn(1, inputs, height, width).to(type));
                if (x.numel() > 20480 && (kernel > 1 || stride > 1 || get_num_threads() > 1))   // where conv2d runs oneDNN
                    Assert.True(PrepackedConvolution.Suits(x, weight, stride, dilation), "a large channels-last CPU convolution should take the prepacked path");
                var expected = nn.functional.conv2d(x, weight, bias, strides: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation]);
                var actual = convolution.Apply(x);
                Assert.Equal(expected.shape, actual.shape);
                Assert.True(expected.eq(actual).all().item<bool>(), $"{inputs}->{outputs} k{kernel} s{stride} p{padding} d{dilation} at {height} x {width}: other values than conv2d");
                Assert.Equal(1, actual.stride(1));   // channels-last, as the next convolution wants it
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Folded_network_gives_the_features_of_the_module_network(bool channelsLast)
    {
        var architectures = new[]
        {
            new ResNetArchitecture(ResidualBlockKind.Basic, [2, 2, 2, 3]),
            new ResNetArchitecture(ResidualBlockKind.Bottleneck, [1, 2, 1, 1], [false, false, true, true]),
        };
        foreach (var architecture in architectures)
        {
            using var network = new ResNet(architecture);
            Randomize(network);
            using var folded = network.Fold(channelsLast);
            using var input = randn(1, 3, 70, 93);
            var ids = Enumerable.Range(0, architecture.CandidateCount).ToList();
            var expected = network.ExtractCandidates(input, ids);
            var actual = folded.ExtractCandidates(input, ids);
            for (int i = 0; i < ids.Count; i++)
            {
                Assert.Equal(expected[i].shape, actual[i].shape);
                Assert.True(actual[i].is_contiguous(), $"id {i} is not contiguous NCHW");
                double error = (expected[i] - actual[i]).abs().max().ToDouble(), scale = expected[i].abs().max().ToDouble();
                Assert.True(error <= 1e-4 * scale, $"{architecture.Block} id {i}: max difference {error} at scale {scale}");
            }
        }
    }

    private static (string Pth, string Safetensors, ResNet Network) SaveRandomBottleneck(string prefix = "")
    {
        var architecture = new ResNetArchitecture(ResidualBlockKind.Bottleneck, [1, 2, 1, 1]);
        var network = new ResNet(architecture);
        Randomize(network);
        var dir = TestFolders.Create("weights");
        var state = network.state_dict().ToDictionary(kv => prefix + kv.Key, kv => kv.Value.clone());
        state[prefix + "fc.weight"] = randn(10, 2048);   // classifier head: ignored
        string pth = Path.Combine(dir, "w.pth"), safetensors = Path.Combine(dir, "w.safetensors");
        PyTorchPickler.PickleStateDict(pth, state);
        Safetensors.SaveStateDict(safetensors, state);
        return (pth, safetensors, network);
    }

    [Fact]
    public void Pth_and_safetensors_round_trip_to_identical_features()
    {
        var (pth, safetensors, original) = SaveRandomBottleneck();
        using var _ = original;
        using var input = randn(1, 3, 96, 128);
        var expected = original.ExtractCandidates(input, [0, 1, 3, 5]);
        foreach (var file in new[] { pth, safetensors })
        {
            using var loaded = new ResNet(original.Architecture);
            WeightFiles.LoadInto(loaded, file);
            var actual = loaded.ExtractCandidates(input, [0, 1, 3, 5]);
            for (int i = 0; i < expected.Length; i++) Assert.True(expected[i].eq(actual[i]).all().item<bool>(), $"{Path.GetExtension(file)} id {i}: max difference {(expected[i] - actual[i]).abs().max().ToDouble()}");
        }
        TestFolders.Delete(Path.GetDirectoryName(pth)!);
    }

    [Fact]
    public void Wrapped_checkpoints_lose_their_prefix()
    {
        var (pth, _, original) = SaveRandomBottleneck("backbone.");
        using var __ = original;
        using var loaded = new ResNet(original.Architecture);
        WeightFiles.LoadInto(loaded, pth);
        Assert.True(original.state_dict()["layer2.1.conv2.weight"].eq(loaded.state_dict()["layer2.1.conv2.weight"]).all().item<bool>());
        TestFolders.Delete(Path.GetDirectoryName(pth)!);
    }

    [Fact]
    public void Wrong_or_broken_weight_files_are_reported()
    {
        var (pth, safetensors, original) = SaveRandomBottleneck();
        using var __ = original;
        using var other = new ResNet(new ResNetArchitecture(ResidualBlockKind.Bottleneck, [1, 1, 1, 1]));
        var e = Assert.Throws<HyperpixelFlowException>(() => WeightFiles.LoadInto(other, safetensors));
        Assert.Contains("unexpected", e.Message);
        Assert.Contains("layer2.1.conv1.weight", e.Message);
        using var basic = new ResNet(new ResNetArchitecture(ResidualBlockKind.Basic, [1, 2, 1, 1]));
        Assert.Contains("mis-shaped", Assert.Throws<HyperpixelFlowException>(() => WeightFiles.LoadInto(basic, pth)).Message);
        string garbage = Path.Combine(Path.GetDirectoryName(pth)!, "garbage.pth");
        File.WriteAllText(garbage, "not a checkpoint");
        Assert.Contains("not a PyTorch checkpoint (a .pth zip archive from torch.save) or a safetensors file",
            Assert.Throws<HyperpixelFlowException>(() => WeightFiles.LoadInto(basic, garbage)).Message);
        string truncated = Path.Combine(Path.GetDirectoryName(pth)!, "truncated.pth");
        File.WriteAllBytes(truncated, File.ReadAllBytes(pth)[..64]);   // a zip archive cut short
        Assert.Contains("not a readable", Assert.Throws<HyperpixelFlowException>(() => WeightFiles.LoadInto(basic, truncated)).Message);
        Assert.Contains("not found", Assert.Throws<HyperpixelFlowException>(() => WeightFiles.LoadInto(basic, garbage + ".missing")).Message);
        TestFolders.Delete(Path.GetDirectoryName(pth)!);
    }
}
