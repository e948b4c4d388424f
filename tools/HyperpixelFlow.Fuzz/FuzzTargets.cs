using System.Text;
using HyperpixelFlow.Backbones;
using HyperpixelFlow.Calibration;
using HyperpixelFlow.Evaluation;
using HyperpixelFlow.Evaluation.Datasets;
using HyperpixelFlow.Imaging;
using SkiaSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HyperpixelFlow.Fuzz;

/// <summary>
/// A parser of untrusted files, as a user reaches it: it is given a file (<see cref="Extension"/>) and must either
/// read it or refuse it with a <see cref="HyperpixelFlowException"/>. <see cref="Seeds"/> writes small valid files
/// for the fuzzer to mutate (their committed copies are the corpus under <c>tools/HyperpixelFlow.Fuzz/seeds</c>).
/// </summary>
public sealed record FuzzTarget(string Name, string Extension, bool Text, Action<string> Parse, Func<IReadOnlyList<byte[]>> Seeds)
{
    /// <summary>Every parser of files a user may get from anywhere.</summary>
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("onnx", ".onnx", false, path => OnnxModel.Load(path), () => [OnnxSeed.Model(withRawData: false), OnnxSeed.Model(withRawData: true)]),
        new("pth", ".pth", false, path => Dispose(WeightFiles.Read(path)), () => [WeightSeed(pth: true)]),
        new("safetensors", ".safetensors", false, path => Dispose(WeightFiles.Read(path)), () => [WeightSeed(pth: false)]),
        new("dinov2", ".safetensors", false, ReadDinoV2, () => [DinoV2Seed()]),
        new("mat", ".mat", false, path => MatFile.Read(path),
            () => [MatSeed(compress: false, bigEndian: false), MatSeed(compress: true, bigEndian: false), MatSeed(compress: false, bigEndian: true)]),
        new("csv", ".csv", true, ReadCsv, () => [Encoding.UTF8.GetBytes(
            "imageA,imageB,XA1,YA1,XA2,YA2,XB1,YB1,XB2,YB2\nPF-dataset/car(S)/a.png,PF-dataset/car(S)/b.png,10,20,30.5,40,11,21,31,41\n\"quoted, path.png\",b.png,1,2,3,4,5,6,7,8\n")]),
        new("spair-json", ".json", true, path => SpairDataset.SpairPair(Path.GetDirectoryName(path)!, path), () => [Encoding.UTF8.GetBytes(
            """{"filename": "2008_000001-2008_000002:aeroplane", "category": "aeroplane", "src_imname": "2008_000001.jpg", "trg_imname": "2008_000002.jpg", "src_kps": [[10, 20], [30, 40]], "trg_kps": [[12, 22], [33, 44]], "src_bndbox": [1, 2, 100, 120], "trg_bndbox": [3, 4, 90, 110], "viewpoint_variation": 1, "scale_variation": 0, "truncation": 0, "occlusion": 2}""")]),
        new("calibration", ".json", true, ReadCalibration, () => [.. ConfidenceCalibration.All.Take(1).Select(CalibrationSeed)]),
        new("results-log", ".jsonl", true, path => ResultsLog<EvaluationSettings, PairResult>.ReadAll(path), () => [ResultsLogSeed()]),
        new("image", ".img", false, path => ImageLoader.Load(path, maxPixels: 4_000_000),
            () => [ImageSeed(SKEncodedImageFormat.Png), ImageSeed(SKEncodedImageFormat.Jpeg), ImageSeed(SKEncodedImageFormat.Webp)]),
    ];

    /// <summary>The target of a name; a clear error listing the names otherwise.</summary>
    public static FuzzTarget Get(string name) => All.FirstOrDefault(t => t.Name == name)
        ?? throw new HyperpixelFlowException($"unknown fuzz target '{name}'; known: {string.Join(", ", All.Select(t => t.Name))}");

    private static void Dispose(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }

    private static void ReadCsv(string path)
    {
        var table = CsvTable.Read(path);
        foreach (var (line, fields) in table.Rows)
            for (int column = 2; column < table.Header.Count; column++)
                table.Number(line, fields, column);
    }

    private static void ReadCalibration(string path)
    {
        using var stream = File.OpenRead(path);
        var calibration = ConfidenceCalibration.Read(stream, path);
        calibration.Probability(new PointSignals(0.5, 0.2, true, 0.3, 0.4, 0.1, 0.3, 0.5, 0.2, 0.6, 0.4));
    }

    private static byte[] WeightSeed(bool pth)
    {
        var state = new Dictionary<string, Tensor> { ["conv1.weight"] = randn(4, 3, 3, 3), ["bn1.running_mean"] = zeros(4), ["fc.bias"] = ones(2) };
        string path = Path.GetTempFileName();
        try
        {
            if (pth) PyTorchPickler.PickleStateDict(path, state);
            else Safetensors.SaveStateDict(path, state);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
            foreach (var t in state.Values) t.Dispose();
        }
    }

    /// <summary>A DINOv2 checkpoint's names and shapes as the backbone reads them (the size check aside: a real one is 88 MB and up).</summary>
    private static void ReadDinoV2(string path)
    {
        var raw = WeightFiles.Read(path);
        try
        {
            var weights = DinoV2Checkpoint.ToOfficialNames(raw, path);
            try { DinoV2Checkpoint.ShapeOf(weights, path); }
            finally { Dispose(weights); }
        }
        finally { Dispose(raw); }
    }

    /// <summary>A two-block, width-8 transformer in the Hugging Face layout (query/key/value apart, registers, SwiGLU).</summary>
    private static byte[] DinoV2Seed()
    {
        var state = new Dictionary<string, Tensor>
        {
            ["embeddings.cls_token"] = randn(1, 1, 8), ["embeddings.register_tokens"] = randn(1, 4, 8), ["embeddings.position_embeddings"] = randn(1, 5, 8),
            ["embeddings.patch_embeddings.projection.weight"] = randn(8, 3, 14, 14), ["layernorm.weight"] = ones(8),
        };
        for (int b = 0; b < 2; b++)
        {
            foreach (var part in new[] { "query", "key", "value" })
            {
                state[$"encoder.layer.{b}.attention.attention.{part}.weight"] = randn(8, 8);
                state[$"encoder.layer.{b}.attention.attention.{part}.bias"] = randn(8);
            }
            state[$"encoder.layer.{b}.attention.output.dense.weight"] = randn(8, 8);
            state[$"encoder.layer.{b}.layer_scale1.lambda1"] = ones(8);
            state[$"encoder.layer.{b}.mlp.weights_in.weight"] = randn(16, 8);
        }
        string path = Path.GetTempFileName();
        try
        {
            Safetensors.SaveStateDict(path, state);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
            Dispose(state);
        }
    }

    private static byte[] MatSeed(bool compress, bool bigEndian) => MatWriter.Write(
    [
        new MatWriter.Variable("kps", 3, 2, [10, double.NaN, 30, 15, double.NaN, 35]),
        new MatWriter.Variable("bbox", 1, 4, [1, 2, 50, 60]),
        new MatWriter.Variable("class", 1, 1, [7], AsUInt8: true),
    ], compress, bigEndian);

    private static byte[] CalibrationSeed(ConfidenceCalibration calibration) => Encoding.UTF8.GetBytes(calibration.ToJson());

    private static byte[] ResultsLogSeed()
    {
        string path = Path.GetTempFileName();
        try
        {
            var settings = new EvaluationSettings("pfwillow", "test", "/data", "0123456789abcdef", "resnet18-cntk", "bundled", [1, 2, 4],
                new Dictionary<string, string> { ["Image.MaxSide"] = "300" }, [0.05, 0.1], "BoundingBox");
            using (var log = ResultsLog<EvaluationSettings, PairResult>.Open(path, new(Evaluator.LogKind, settings, "1/1", 3), restart: true))
                for (int i = 0; i < 2; i++)
                    log.Append(new PairResult(i, $"pair{i}", "car(S)", 2, 40.5, new Dictionary<string, int> { ["0.05"] = 1, ["0.1"] = 2 }, null, null, null,
                        [[10.5, 20.25], [30, 40]], 0.05, [new PointOutcome(0.04, 0.9, 0.7, new double[11]), new PointOutcome(0.2, null, 0.3, new double[11])]));
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }

    private static byte[] ImageSeed(SKEncodedImageFormat format)
    {
        using var bitmap = new SKBitmap(40, 32);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 40; x++) bitmap.SetPixel(x, y, new SKColor((byte)(x * 6), (byte)(y * 8), (byte)((x + y) * 3)));
        using var data = bitmap.Encode(format, 90) ?? throw new InvalidOperationException($"no {format} encoder");
        return data.ToArray();
    }
}
