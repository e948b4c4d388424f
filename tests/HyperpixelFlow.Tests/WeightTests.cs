using HyperpixelFlow.Backbones;
using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

public class WeightTests
{
    /// <summary>Minimal protobuf writer, to build ONNX messages byte by byte for the reader.</summary>
    private static class Proto
    {
        public static byte[] Varint(ulong v)
        {
            var bytes = new List<byte>();
            do { byte b = (byte)(v & 0x7f); v >>= 7; if (v != 0) b |= 0x80; bytes.Add(b); } while (v != 0);
            return bytes.ToArray();
        }
        public static byte[] Key(int field, int wire) => Varint((ulong)(field << 3 | wire));
        public static byte[] Bytes(int field, byte[] payload) => [.. Key(field, 2), .. Varint((ulong)payload.Length), .. payload];
        public static byte[] String(int field, string s) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(s));
        public static byte[] Int(int field, long v) => [.. Key(field, 0), .. Varint((ulong)v)];
        public static byte[] PackedFloats(int field, float[] v) => Bytes(field, v.SelectMany(BitConverter.GetBytes).ToArray());
        public static byte[] PackedInts(int field, long[] v) => Bytes(field, v.SelectMany(x => Varint((ulong)x)).ToArray());
    }

    [Fact]
    public void Onnx_reader_decodes_nodes_attributes_and_float_initializers()
    {
        byte[] weight = [.. Proto.Int(1, 2), .. Proto.Int(1, 3), .. Proto.Int(2, 1), .. Proto.PackedFloats(4, [1, 2, 3, 4, 5, 6]), .. Proto.String(8, "W")];
        byte[] rawWeight = [.. Proto.PackedInts(1, [2]), .. Proto.Int(2, 1), .. Proto.String(8, "B"),
            .. Proto.Bytes(9, new float[] { -1.5f, 2.5f }.SelectMany(BitConverter.GetBytes).ToArray())];
        byte[] attribute = [.. Proto.String(1, "pads"), .. Proto.PackedInts(8, [1, 1, 0, 0]), .. Proto.Int(20, 7)];
        byte[] epsilon = [.. Proto.String(1, "epsilon"), .. Proto.Key(2, 5), .. BitConverter.GetBytes(1e-5f)];
        byte[] node = [.. Proto.String(1, "X"), .. Proto.String(1, "W"), .. Proto.String(2, "Y"), .. Proto.String(3, "conv0"),
            .. Proto.String(4, "Conv"), .. Proto.Bytes(5, attribute), .. Proto.Bytes(5, epsilon)];
        byte[] graph = [.. Proto.Bytes(1, node), .. Proto.String(2, "g"), .. Proto.Bytes(5, weight), .. Proto.Bytes(5, rawWeight)];
        byte[] model = [.. Proto.Int(1, 7), .. Proto.Bytes(7, graph)];

        var parsed = OnnxModel.Parse(model);
        var n = Assert.Single(parsed.Nodes);
        Assert.Equal(("Conv", "conv0"), (n.OpType, n.Name));
        Assert.Equal(new[] { "X", "W" }, n.Inputs);
        Assert.Equal(new long[] { 1, 1, 0, 0 }, n.IntAttributes["pads"]);
        Assert.Equal(1e-5f, n.FloatAttributes["epsilon"]);
        Assert.Equal(new long[] { 2, 3 }, parsed.Initializers["W"].Dims);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, parsed.Initializers["W"].Data);
        Assert.Equal(new float[] { -1.5f, 2.5f }, parsed.Initializers["B"].Data);
    }

    [Fact]
    public void Onnx_reader_rejects_truncated_input()
    {
        byte[] model = [.. Proto.Key(7, 2), .. Proto.Varint(100), 1, 2, 3];
        Assert.Throws<FormatException>(() => OnnxModel.Parse(model));
    }

    [Fact]
    public void Bundled_weights_map_onto_every_parameter_with_the_right_shapes_and_values()
    {
        var model = OnnxModel.Load(BackboneRegistry.BundledWeightsPath);
        var spec = BackboneRegistry.Get("resnet18-cntk");
        var weights = CntkResNetImporter.ToStateDict(model, spec.Architecture, "bundled");
        using var network = new ResNet(spec.Architecture);
        var expected = network.state_dict().Where(kv => !kv.Key.EndsWith("num_batches_tracked")).ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        Assert.Equal(expected.Keys.Order(), weights.Keys.Order());
        foreach (var (key, shape) in expected) Assert.Equal(shape, weights[key].shape);
        Assert.Equal(new long[] { 64, 3, 7, 7 }, weights["conv1.weight"].shape);
        Assert.Equal(new long[] { 512, 256, 1, 1 }, weights["layer4.0.downsample.0.weight"].shape);
        Assert.False(weights.ContainsKey("layer1.0.downsample.0.weight"));   // identity shortcut
        // the stem conv is the first Conv node; its initializer must arrive unchanged
        var stemConv = model.Nodes.First(n => n.OpType == "Conv");
        Assert.Equal(model.Initializers[stemConv.Inputs[1]].Data, weights["conv1.weight"].data<float>().ToArray());
        // BN variances are positive, means finite
        foreach (var (key, t) in weights.Where(kv => kv.Key.EndsWith("running_var")))
            Assert.True(t.min().ToDouble() > 0, key);
        foreach (var t in weights.Values) t.Dispose();
    }

    [Fact]
    public void State_dict_errors_list_missing_unexpected_and_mis_shaped_tensors()
    {
        using var network = new ResNet(new ResNetArchitecture(ResidualBlockKind.Basic, [1, 1, 1, 1]));
        var weights = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        weights.Remove("layer2.0.conv1.weight");
        weights["layer9.extra"] = zeros(1);
        weights["bn1.weight"] = zeros(3);
        var e = Assert.Throws<HyperpixelFlowException>(() => StateDict.Load(network, weights, "test.pth"));
        Assert.Contains("missing 1: layer2.0.conv1.weight", e.Message);
        Assert.Contains("unexpected 1: layer9.extra", e.Message);
        Assert.Contains("bn1.weight (expected [64], got [3])", e.Message);
    }
}

public class WeightCacheTests
{
    [Fact]
    public void The_cached_network_computes_exactly_what_the_imported_one_does_and_a_damaged_entry_is_made_anew()
    {
        var spec = Backbones.BackboneRegistry.Get(Backbones.BackboneRegistry.DefaultName);
        string onnx = Backbones.BackboneRegistry.BundledWeightsPath;
        using var imported = Backbones.BackboneRegistry.ImportBundled(spec, onnx);
        using var folded = imported.Fold();

        string folder = TestFolders.Create("cache"), cached = Backbones.WeightCache.PathFor(onnx, spec.Name, folder)!;
        // Left by earlier versions and by another copy of the weights: the first goes when an entry is saved.
        string olderVersion = Path.Combine(folder, $"{spec.Name}-v1-{new FileInfo(onnx).Length}-5.bin");
        string otherCopy = Path.Combine(folder, Path.GetFileName(cached).Replace($"-{new FileInfo(onnx).LastWriteTimeUtc.Ticks}.bin", "-7.bin"));
        File.WriteAllBytes(olderVersion, [1]);
        File.WriteAllBytes(otherCopy, [2]);
        Assert.Null(Backbones.WeightCache.TryLoad(cached, CPU));   // nothing there yet
        File.WriteAllBytes(cached, [1, 2, 3]);
        Assert.Null(Backbones.WeightCache.TryLoad(cached, CPU));   // damaged: refused, the caller imports
        Backbones.WeightCache.Save(folded, cached);
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
        Assert.False(File.Exists(olderVersion));
        Assert.True(File.Exists(otherCopy));
        using (var fromCache = Backbones.WeightCache.TryLoad(cached, CPU))
        {
            Assert.NotNull(fromCache);
            int[] every = Enumerable.Range(0, spec.Architecture.CandidateCount).ToArray();
            using var input = randn(1, 3, 67, 91, generator: new TorchSharp.torch.Generator(7));
            var expected = folded.ExtractCandidates(input, every);
            var actual = fromCache.ExtractCandidates(input, every);
            for (int i = 0; i < every.Length; i++)
                Assert.True(expected[i].equal(actual[i]).all().item<bool>(), $"candidate {i}");
            foreach (var t in expected.Concat(actual)) t.Dispose();
        }
        // A backbone read from the cache makes its module form only when asked for it.
        int imports = 0;
        using (var backbone = new Backbones.ResNetBackbone(spec.Name, spec.Architecture, Backbones.WeightCache.TryLoad(cached, CPU)!, () => { imports++; return Backbones.BackboneRegistry.ImportBundled(spec, onnx); },
                   spec.Preprocessing, spec.DefaultLayers, CPU, spec.LayersByMatching))
        {
            Assert.Equal(0, imports);
            Assert.Equal(spec.Architecture, backbone.Network.Architecture);
            Assert.Same(backbone.Network, backbone.Network);
            Assert.Equal(1, imports);
        }

        var bytes = File.ReadAllBytes(cached);
        File.WriteAllBytes(cached, bytes[..(bytes.Length / 2)]);
        Assert.Null(Backbones.WeightCache.TryLoad(cached, CPU));   // cut short: refused too

        TestFolders.Delete(folder);

        // Keyed by the source's size and time and the backbone: another backbone gets another entry; off means none.
        string path = Backbones.WeightCache.PathFor(onnx, spec.Name, "/cache")!;
        Assert.StartsWith("/cache/resnet18-cntk-", path);
        Assert.Contains($"-{new FileInfo(onnx).Length}-", path);
        Assert.NotEqual(path, Backbones.WeightCache.PathFor(onnx, "resnet18", "/cache"));
        Assert.Null(Backbones.WeightCache.PathFor(onnx, spec.Name, null));
    }
}
