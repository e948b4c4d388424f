using HyperpixelFlow.Backbones;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

/// <summary>
/// DINOv2 backbones: the tokens of every block equal the official implementation's on the same random weights (the
/// references come from facebookresearch/dinov2's own code, tools/dinov2-parity/reference.py), both checkpoint layouts
/// load to the same network, and a file of another model or size is refused with a clear message.
/// </summary>
public class DinoV2Tests
{
    private static readonly DinoV2Architecture Small = DinoV2Architecture.Sizes[0];

    public static TheoryData<bool> Variants => new() { false, true };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Every_blocks_tokens_equal_the_official_implementations_for_both_checkpoint_layouts(bool registers)
    {
        var architecture = registers ? Small.WithRegisters() : Small;
        string folder = TestFolders.Create("dinov2");
        try
        {
            var (official, hub) = DinoV2Checkpoints.Write(architecture, folder);
            KeepForReference(official);
            string fixture = Path.Combine(SharedData.RepoRoot, "tests", "HyperpixelFlow.Tests", "Fixtures", "dinov2-parity",
                Path.GetFileNameWithoutExtension(official) + ".safetensors");
            var expected = Safetensors.LoadStateDict(fixture);
            string name = registers ? "dinov2-vits14-reg" : "dinov2-vits14";
            using var fromOfficial = (DinoV2Backbone)BackboneRegistry.Create(name, official);
            using var fromHub = (DinoV2Backbone)BackboneRegistry.Create(name, hub);
            var blocks = Enumerable.Range(0, architecture.Depth).ToList();
            var raw = blocks.Select(_ => false).ToList();
            int sizes = 0;
            foreach (var key in expected.Keys.Where(k => k.StartsWith("input.", StringComparison.Ordinal)))
            {
                string size = key["input.".Length..];
                var input = expected[key];
                var tokens = fromOfficial.Network.BlockTokens(input, blocks, raw);
                var hubTokens = fromHub.Network.BlockTokens(input, blocks, raw);
                for (int k = 0; k < blocks.Count; k++)
                {
                    var reference = expected[$"block{k}.{size}"];
                    Assert.Equal(reference.shape, tokens[k].shape);
                    double error = RelativeError(tokens[k], reference);
                    Assert.True(error <= 1e-4, $"{name} block {k} at {size}: relative error {error:E2}");
                    Assert.True(hubTokens[k].equal(tokens[k]).all().item<bool>(), $"{name} block {k} at {size}: the Hugging Face layout loads differently");
                }
                var normalised = fromOfficial.Network.BlockTokens(input, [architecture.Depth - 1], [true])[0]
                    .narrow(1, 1 + architecture.Registers, expected[$"norm_patch_tokens.{size}"].shape[1]);
                Assert.True(RelativeError(normalised, expected[$"norm_patch_tokens.{size}"]) <= 1e-4, $"{name} final norm at {size}");
                sizes++;
            }
            Assert.Equal(2, sizes);
            foreach (var t in expected.Values) t.Dispose();
        }
        finally { TestFolders.Delete(folder); }
    }

    [Fact]
    public void A_swiglu_block_as_vit_g_has_equals_the_official_block()
    {
        // ViT-g's feed-forward (SwiGLUFFNFused: hidden (int(4 d 2 / 3) + 7) / 8 x 8) in one block of width 64, weights and
        // output from the official NestedTensorBlock (tools/dinov2-parity/reference.py --swiglu-block).
        var fixture = Safetensors.LoadStateDict(Path.Combine(SharedData.RepoRoot, "tests", "HyperpixelFlow.Tests", "Fixtures", "dinov2-parity", "swiglu-block.safetensors"));
        var architecture = new DinoV2Architecture("test", EmbedDim: 64, Depth: 1, Heads: 4, SwiGlu: true, Registers: 0);
        Assert.Equal(176, architecture.HiddenDim);
        using var block = new TransformerBlock(architecture);
        var weights = fixture.Where(kv => kv.Key.StartsWith("weight.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["weight.".Length..], kv => kv.Value);
        StateDict.Load(block, weights, "swiglu-block fixture");
        var expected = fixture["output"];
        using (no_grad())
        {
            Assert.True(RelativeError(block.forward(fixture["input"]), expected) <= 1e-5, "module form");
            block.PrepareInference();
            Assert.True(RelativeError(block.forward(fixture["input"]), expected) <= 1e-5, "inference form");
        }
        foreach (var t in fixture.Values) t.Dispose();
    }

    /// <summary>max |a - b| / max |b|: the tokens' largest deviation against their scale.</summary>
    private static double RelativeError(Tensor actual, Tensor expected) =>
        (actual - expected).abs().max().item<float>() / (double)expected.abs().max().item<float>();

    /// <summary>HPF_KEEP_DINOV2_CHECKPOINTS=DIR keeps a copy of the generated checkpoint, to remake the references from.</summary>
    private static void KeepForReference(string checkpoint)
    {
        string? keep = Environment.GetEnvironmentVariable("HPF_KEEP_DINOV2_CHECKPOINTS");
        if (string.IsNullOrEmpty(keep)) return;
        Directory.CreateDirectory(keep);
        File.Copy(checkpoint, Path.Combine(keep, Path.GetFileName(checkpoint)), overwrite: true);
    }

    [Fact]
    public void A_checkpoint_of_another_size_or_model_is_refused_with_what_it_is()
    {
        string folder = TestFolders.Create("dinov2-wrong");
        try
        {
            var (official, hub) = DinoV2Checkpoints.Write(Small, folder);
            foreach (var path in new[] { official, hub })
            {
                var size = Assert.Throws<HyperpixelFlowException>(() => BackboneRegistry.Create("dinov2-vitb14", path));
                Assert.Contains("holds DINOv2 ViT-S/14, but backbone dinov2-vitb14 is ViT-B/14; use --backbone dinov2-vits14", size.Message);
                var registers = Assert.Throws<HyperpixelFlowException>(() => BackboneRegistry.Create("dinov2-vits14-reg", path));
                Assert.Contains("use --backbone dinov2-vits14", registers.Message);
            }
            string resnet = Path.Combine(folder, "resnet18.pth");
            using (var network = new ResNet(BackboneRegistry.Get("resnet18").Architecture)) network.save_py(resnet);
            var notDino = Assert.Throws<HyperpixelFlowException>(() => BackboneRegistry.Create("dinov2-vits14", resnet));
            Assert.Contains("not a DINOv2 checkpoint", notDino.Message);
            var notResNet = Assert.Throws<HyperpixelFlowException>(() => BackboneRegistry.Create("resnet18", official));
            Assert.Contains("weights do not fit the network", notResNet.Message);
            Assert.Contains("no bundled weights: pass dinov2_vits14_pretrain.pth (official) or model.safetensors of facebook/dinov2-small",
                Assert.Throws<HyperpixelFlowException>(() => BackboneRegistry.Create("dinov2-vits14")).Message);
        }
        finally { TestFolders.Delete(folder); }
    }
}
