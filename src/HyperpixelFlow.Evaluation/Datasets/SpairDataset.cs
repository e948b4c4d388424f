using System.Text.Json;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Evaluation.Datasets;

/// <summary>The SPair-71k benchmark: its record and its loader.</summary>
public static class SpairDataset
{
    /// <summary>The benchmark's record in <see cref="DatasetRegistry.All"/>.</summary>
    public static DatasetSpec Spec { get; } = new("spair", "SPair-71k (Min et al.): 12,234 test pairs with difficulty labels, bounding-box PCK", ["spair71k", "spair-71k", "spair_71k"], Load,
        new DatasetSource("spair", "http://cvlab.postech.ac.kr/research/SPair-71k/data/SPair-71k.tar.gz", "SPair-71k"), PckThreshold.BoundingBox, DefaultMarginPruning: true);

    /// <summary>
    /// SPair-71k: <c>Layout/large/&lt;split&gt;.txt</c> lists pair names; <c>PairAnnotation/&lt;split&gt;/&lt;pair&gt;.json</c> holds
    /// keypoints, boxes and difficulty labels; images are <c>JPEGImages/&lt;category&gt;/&lt;name&gt;</c>.
    /// </summary>
    public static BenchmarkDataset Load(string root, string split = "test")
    {
        string layout = Path.Combine(root, "Layout", "large", $"{split}.txt");
        if (!File.Exists(layout)) throw new HyperpixelFlowException($"{layout}: file not found");
        var pairs = new List<BenchmarkPair>();
        var lines = File.ReadAllLines(layout);
        for (int i = 0; i < lines.Length; i++)
        {
            string name = lines[i].Trim();
            if (name.Length == 0) continue;
            string annotation = Path.Combine(root, "PairAnnotation", split, name + ".json");
            if (!File.Exists(annotation)) throw new DatasetFormatException(layout, i + 1, $"annotation {annotation} not found");
            pairs.Add(SpairPair(root, annotation));
        }
        return new BenchmarkDataset(Spec.Name, split, root, Spec.DefaultThreshold, pairs);
    }

    private static readonly string[] SpairLabels = ["viewpoint_variation", "scale_variation", "truncation", "occlusion"];

    internal static BenchmarkPair SpairPair(string root, string path)
    {
        JsonElement json;
        try { json = JsonDocument.Parse(File.ReadAllText(path)).RootElement; }
        catch (JsonException e) { throw new DatasetFormatException(path, (int?)(e.LineNumber + 1), $"broken JSON: {e.Message.Split('.')[0]}"); }
        try
        {
            string category = json.GetProperty("category").GetString()!;
            var source = json.GetProperty("src_kps").EnumerateArray().Select(XY).ToList();
            var target = json.GetProperty("trg_kps").EnumerateArray().Select(XY).ToList();
            if (source.Count != target.Count) throw new DatasetFormatException(path, null, $"{source.Count} source but {target.Count} target keypoints");
            var labels = SpairLabels.ToDictionary(l => l, l => json.GetProperty(l).GetInt32());
            return new BenchmarkPair(json.GetProperty("filename").GetString()!, category,
                Path.Combine(root, "JPEGImages", category, json.GetProperty("src_imname").GetString()!),
                Path.Combine(root, "JPEGImages", category, json.GetProperty("trg_imname").GetString()!),
                source, target, BoxOf(json.GetProperty("src_bndbox")), BoxOf(json.GetProperty("trg_bndbox")), labels);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DatasetFormatException(path, null, $"missing or malformed field ({e.Message})");
        }
    }

    private static Point2 XY(JsonElement e) =>
        e.GetArrayLength() == 2 ? new Point2(e[0].GetDouble(), e[1].GetDouble()) : throw new FormatException("keypoint is not [x, y]");

    private static Box BoxOf(JsonElement e) =>
        e.GetArrayLength() == 4 ? new Box(e[0].GetSingle(), e[1].GetSingle(), e[2].GetSingle(), e[3].GetSingle())
            : throw new FormatException("box is not [x1, y1, x2, y2]");
}
