using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;
using static HyperpixelFlow.Evaluation.Datasets.DatasetParsing;

namespace HyperpixelFlow.Evaluation.Datasets;

/// <summary>The PF-PASCAL benchmark: its record and its loader.</summary>
public static class PfPascalDataset
{
    /// <summary>The benchmark's record in <see cref="DatasetRegistry.All"/>.</summary>
    public static DatasetSpec Spec { get; } = new("pfpascal", "PF-PASCAL (Ham et al.): 20 PASCAL classes, image-size PCK", ["pascal", "pf-pascal", "pf_pascal"], Load,
        new DatasetSource("pfpascal", "https://drive.google.com/uc?export=download&confirm=t&id=1OOwpGzJnTsFXYh-YffMQ9XKM_Kl_zdzg", "PF-PASCAL"), PckThreshold.Image, DefaultMarginPruning: true);

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
    public static BenchmarkDataset Load(string root, string split = "test")
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
        return new BenchmarkDataset(Spec.Name, split, root, Spec.DefaultThreshold, pairs);
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
}
