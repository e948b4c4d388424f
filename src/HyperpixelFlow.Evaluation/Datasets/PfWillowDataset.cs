using static HyperpixelFlow.Evaluation.Datasets.DatasetParsing;

namespace HyperpixelFlow.Evaluation.Datasets;

/// <summary>The PF-WILLOW benchmark: its record and its loader.</summary>
public static class PfWillowDataset
{
    /// <summary>The benchmark's record in <see cref="DatasetRegistry.All"/>.</summary>
    public static DatasetSpec Spec { get; } = new("pfwillow", "PF-WILLOW (Ham et al.): 900 test pairs of 10 classes, keypoint-extent PCK", ["willow", "pf-willow", "pf_willow"], Load,
        new DatasetSource("pfwillow", "https://drive.google.com/uc?export=download&confirm=t&id=1tDP0y8RO5s45L-vqnortRaieiWENQco_", "PF-WILLOW"), PckThreshold.KeypointExtent, DefaultMarginPruning: true);

    /// <summary>
    /// PF-WILLOW: <c>&lt;split&gt;_pairs.csv</c> with imageA,imageB,XA1..XA10,YA1..YA10,XB1..XB10,YB1..YB10; image paths lose
    /// their first component (<c>PF-dataset/</c>); the category is the image's folder.
    /// </summary>
    public static BenchmarkDataset Load(string root, string split = "test")
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
        return new BenchmarkDataset(Spec.Name, split, root, Spec.DefaultThreshold, pairs);
    }
}
