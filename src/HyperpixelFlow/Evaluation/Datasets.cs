using System.Globalization;
using System.Text.Json;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Evaluation;

/// <summary>
/// Loaders for the four standard benchmarks in their originally published layouts (those the paper's code reads).
/// Every problem with a file is reported as a <see cref="DatasetFormatException"/> naming the file and line.
/// </summary>
public static class Datasets
{
    public static IReadOnlyList<string> Names { get; } = ["pfwillow", "pfpascal", "spair", "caltech"];

    public static BenchmarkDataset Load(string name, string root, string split = "test")
    {
        if (!Directory.Exists(root)) throw new HyperpixelFlowException($"{root}: dataset folder not found");
        return Normalize(name) switch
        {
            "pfwillow" => LoadPfWillow(root, split),
            "pfpascal" => LoadPfPascal(root, split),
            "spair" => LoadSpair(root, split),
            "caltech" => LoadCaltech(root, split),
            _ => throw new HyperpixelFlowException($"unknown dataset '{name}'; known: {string.Join(", ", Names)}"),
        };
    }

    public static string Normalize(string name) => name.ToLowerInvariant().Replace("-", "").Replace("_", "") switch
    {
        "willow" or "pfwillow" => "pfwillow",
        "pascal" or "pfpascal" => "pfpascal",
        "spair" or "spair71k" => "spair",
        "caltech" or "caltech101" => "caltech",
        var other => other,
    };

    /// <summary>
    /// PF-WILLOW: <c>&lt;split&gt;_pairs.csv</c> with imageA,imageB,XA1..XA10,YA1..YA10,XB1..XB10,YB1..YB10; image paths lose
    /// their first component (<c>PF-dataset/</c>); the category is the image's folder.
    /// </summary>
    public static BenchmarkDataset LoadPfWillow(string root, string split = "test")
    {
        var csv = CsvTable.Read(Path.Combine(root, $"{split}_pairs.csv"));
        int count = (csv.Header.Count - 2) / 4;
        if (count < 1 || csv.Header.Count != 2 + 4 * count)
            throw new DatasetFormatException(csv.Path, 1, $"expected imageA,imageB and 4 x N coordinate columns, found {csv.Header.Count} columns");
        var pairs = new List<BenchmarkPair>();
        foreach (var (line, f) in csv.Rows)
        {
            if (f.Length != csv.Header.Count) throw new DatasetFormatException(csv.Path, line, $"expected {csv.Header.Count} fields, found {f.Length}");
            var source = Points(csv, line, f, 2, 2 + count, count);
            var target = Points(csv, line, f, 2 + 2 * count, 2 + 3 * count, count);
            string src = StripFirstComponent(f[0]), trg = StripFirstComponent(f[1]);
            var (s, t) = KeepVisibleInBoth(source, target);
            pairs.Add(new BenchmarkPair($"{pairs.Count}", Path.GetDirectoryName(src)!.Replace('\\', '/'), Path.Combine(root, src),
                Path.Combine(root, trg), s, t));
        }
        return new BenchmarkDataset("pfwillow", split, root, PckThreshold.KeypointExtent, pairs);
    }

    private static readonly string[] PascalClasses =
    [
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog", "horse",
        "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ];

    /// <summary>
    /// PF-PASCAL: <c>{trn,val,test}_pairs.csv</c> (source, target, class id 1-based, flip flag), images in
    /// <c>JPEGImages/</c>, keypoints and boxes in <c>Annotations/&lt;class&gt;/&lt;name&gt;.mat</c> (<c>kps</c> N x 2 with NaN
    /// rows for invisible points, <c>bbox</c>). Also accepts the variant with inline coordinates
    /// (<c>source_image,target_image,class,XA,YA,XB,YB</c>, ';'-separated numbers). The flip flag of the training split
    /// is a training-time augmentation: it is kept as a label and not applied.
    /// </summary>
    public static BenchmarkDataset LoadPfPascal(string root, string split = "test")
    {
        string file = new[] { $"{split}_pairs.csv", $"{split}_pairs_pf_pascal.csv", $"{split}_pairs_pfpascal.csv" }
            .Select(n => Path.Combine(root, n)).FirstOrDefault(File.Exists) ?? Path.Combine(root, $"{split}_pairs.csv");
        var csv = CsvTable.Read(file);
        bool inline = csv.Header.Any(h => h.Equals("XA", StringComparison.OrdinalIgnoreCase));
        var pairs = new List<BenchmarkPair>();
        foreach (var (line, f) in csv.Rows)
        {
            if (f.Length < 3) throw new DatasetFormatException(csv.Path, line, $"expected at least 3 fields, found {f.Length}");
            int classId = (int)csv.Number(line, f, 2);
            if (classId < 1 || classId > PascalClasses.Length)
                throw new DatasetFormatException(csv.Path, line, $"class id {classId} outside 1..{PascalClasses.Length}");
            string category = PascalClasses[classId - 1];
            string src = Path.GetFileName(f[0].Trim()), trg = Path.GetFileName(f[1].Trim());
            IReadOnlyList<Point2> sourcePoints, targetPoints;
            Box? sourceBox = null, targetBox = null;
            if (inline)
            {
                sourcePoints = InlinePoints(csv, line, f, csv.Column("XA"), csv.Column("YA"));
                targetPoints = InlinePoints(csv, line, f, csv.Column("XB"), csv.Column("YB"));
                if (sourcePoints.Count != targetPoints.Count)
                    throw new DatasetFormatException(csv.Path, line, $"{sourcePoints.Count} source but {targetPoints.Count} target keypoints");
            }
            else
            {
                (sourcePoints, sourceBox) = PascalAnnotation(root, category, src);
                (targetPoints, targetBox) = PascalAnnotation(root, category, trg);
                if (sourcePoints.Count != targetPoints.Count)
                    throw new DatasetFormatException(csv.Path, line, $"annotations have {sourcePoints.Count} and {targetPoints.Count} keypoint rows");
            }
            var (s, t) = KeepVisibleInBoth(sourcePoints, targetPoints);
            var labels = new Dictionary<string, int>();
            if (!inline && f.Length > 3 && int.TryParse(f[3], out int flip)) labels["flip"] = flip;
            pairs.Add(new BenchmarkPair($"{pairs.Count}", category, Path.Combine(root, "JPEGImages", src), Path.Combine(root, "JPEGImages", trg),
                s, t, sourceBox, targetBox, labels));
        }
        return new BenchmarkDataset("pfpascal", split, root, PckThreshold.Image, pairs);
    }

    private static (IReadOnlyList<Point2>, Box?) PascalAnnotation(string root, string category, string image)
    {
        string path = Path.Combine(root, "Annotations", category, Path.ChangeExtension(image, ".mat"));
        var mat = MatFile.Read(path);
        if (!mat.TryGetValue("kps", out var kps)) throw new DatasetFormatException(path, null, "no 'kps' variable");
        if (kps.Columns != 2) throw new DatasetFormatException(path, null, $"'kps' must be N x 2, is {string.Join("x", kps.Dims)}");
        var points = Enumerable.Range(0, kps.Rows).Select(r => new Point2(kps[r, 0], kps[r, 1])).ToList();
        Box? box = null;
        if (mat.TryGetValue("bbox", out var b))
        {
            if (b.Data.Length < 4) throw new DatasetFormatException(path, null, "'bbox' has fewer than 4 values");
            // bbox is 1 x 4 [x1 y1 x2 y2]; column-major storage of a row vector is its natural order.
            box = new Box((float)b.Data[0], (float)b.Data[1], (float)b.Data[2], (float)b.Data[3]);
        }
        return (points, box);
    }

    /// <summary>
    /// SPair-71k: <c>Layout/large/&lt;split&gt;.txt</c> lists pair names; <c>PairAnnotation/&lt;split&gt;/&lt;pair&gt;.json</c> holds
    /// keypoints, boxes and difficulty labels; images are <c>JPEGImages/&lt;category&gt;/&lt;name&gt;</c>.
    /// </summary>
    public static BenchmarkDataset LoadSpair(string root, string split = "test")
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
        return new BenchmarkDataset("spair", split, root, PckThreshold.BoundingBox, pairs);
    }

    private static readonly string[] SpairLabels = ["viewpoint_variation", "scale_variation", "truncation", "occlusion"];

    private static BenchmarkPair SpairPair(string root, string path)
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

    /// <summary>
    /// Caltech-101: <c>test_pairs_caltech_with_category.csv</c> (source, target, class id, then source x / y and target
    /// x / y mask polygons as comma-separated strings), images under <c>101_ObjectCategories/&lt;class&gt;/</c>.
    /// </summary>
    public static BenchmarkDataset LoadCaltech(string root, string split = "test")
    {
        var csv = CsvTable.Read(Path.Combine(root, $"{split}_pairs_caltech_with_category.csv"));
        var pairs = new List<BenchmarkPair>();
        foreach (var (line, f) in csv.Rows)
        {
            if (f.Length < 7) throw new DatasetFormatException(csv.Path, line, $"expected 7 fields, found {f.Length}");
            string category = Path.GetFileName(Path.GetDirectoryName(f[0].Trim().Replace('\\', '/')) ?? "");
            string ImagePath(string p) => Path.Combine(root, "101_ObjectCategories", category, Path.GetFileName(p.Trim()));
            var source = new Polygon(PolygonPoints(csv, line, f[3], f[4]));
            var target = new Polygon(PolygonPoints(csv, line, f[5], f[6]));
            pairs.Add(new BenchmarkPair($"{pairs.Count}", category, ImagePath(f[0]), ImagePath(f[1]), source.Vertices, target.Vertices,
                SourceMask: source, TargetMask: target));
        }
        return new BenchmarkDataset("caltech", split, root, PckThreshold.Image, pairs);
    }

    private static List<Point2> PolygonPoints(CsvTable csv, int line, string xs, string ys)
    {
        var x = Numbers(csv, line, xs, ',');
        var y = Numbers(csv, line, ys, ',');
        if (x.Count != y.Count || x.Count < 3)
            throw new DatasetFormatException(csv.Path, line, $"mask polygon needs matching x and y lists of at least 3 values ({x.Count} x, {y.Count} y)");
        return x.Zip(y, (a, b) => new Point2(a, b)).ToList();
    }

    private static List<double> Numbers(CsvTable csv, int line, string text, char separator)
    {
        var values = new List<double>();
        foreach (var part in text.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                throw new DatasetFormatException(csv.Path, line, $"'{part}' is not a number");
            values.Add(v);
        }
        return values;
    }

    private static List<Point2> InlinePoints(CsvTable csv, int line, string[] f, int xColumn, int yColumn)
    {
        if (Math.Max(xColumn, yColumn) >= f.Length) throw new DatasetFormatException(csv.Path, line, "missing coordinate fields");
        var x = Numbers(csv, line, f[xColumn].Replace("nan", "NaN", StringComparison.OrdinalIgnoreCase), ';');
        var y = Numbers(csv, line, f[yColumn].Replace("nan", "NaN", StringComparison.OrdinalIgnoreCase), ';');
        if (x.Count != y.Count) throw new DatasetFormatException(csv.Path, line, $"{x.Count} x but {y.Count} y coordinates");
        return x.Zip(y, (a, b) => new Point2(a, b)).ToList();
    }

    private static List<Point2> Points(CsvTable csv, int line, string[] f, int xStart, int yStart, int count) =>
        Enumerable.Range(0, count).Select(i => new Point2(csv.Number(line, f, xStart + i), csv.Number(line, f, yStart + i))).ToList();

    private static (IReadOnlyList<Point2>, IReadOnlyList<Point2>) KeepVisibleInBoth(IReadOnlyList<Point2> source, IReadOnlyList<Point2> target)
    {
        static bool Visible(Point2 p) => double.IsFinite(p.X) && double.IsFinite(p.Y);
        var keep = Enumerable.Range(0, source.Count).Where(i => Visible(source[i]) && Visible(target[i])).ToList();
        return (keep.Select(i => source[i]).ToList(), keep.Select(i => target[i]).ToList());
    }

    private static string StripFirstComponent(string path)
    {
        var parts = path.Trim().Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length > 1 ? string.Join('/', parts.Skip(1)) : parts[0];
    }
}
