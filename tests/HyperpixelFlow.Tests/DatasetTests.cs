using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;

using HyperpixelFlow.Fuzz;

namespace HyperpixelFlow.Tests;

public sealed class DatasetTests : IDisposable
{
    private readonly List<string> _folders = [];

    private string NewFolder()
    {
        var folder = TestFolders.Create("data");
        _folders.Add(folder);
        return folder;
    }

    public void Dispose()
    {
        foreach (var folder in _folders) TestFolders.Delete(folder);
    }

    private static void WriteImage(string path, int w = 64, int h = 48, int seed = 1)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var pair = SyntheticPairs.Create(w, h, seed);
        using var bitmap = pair.Source.ToBitmap();
        Pictures.SavePng(bitmap, path);
    }

    [Fact]
    public void Mat_reader_reads_plain_compressed_and_big_endian_files()
    {
        var kps = new MatWriter.Variable("kps", 3, 2, [10, double.NaN, 30, 15, double.NaN, 35]);
        var bbox = new MatWriter.Variable("bbox", 1, 4, [1, 2, 50, 60]);
        var bytesOnly = new MatWriter.Variable("class", 1, 1, [7], AsUInt8: true);
        foreach (var (compress, bigEndian) in new[] { (false, false), (true, false), (false, true) })
        {
            var mat = MatFile.Parse(MatWriter.Write([kps, bbox, bytesOnly], compress, bigEndian));
            Assert.Equal(new[] { 3, 2 }, mat["kps"].Dims);
            Assert.Equal(30.0, mat["kps"][2, 0]);
            Assert.Equal(35.0, mat["kps"][2, 1]);
            Assert.True(double.IsNaN(mat["kps"][1, 0]));
            Assert.Equal(new double[] { 1, 2, 50, 60 }, mat["bbox"].Data);
            Assert.Equal(7.0, mat["class"].Data[0]);
        }
    }

    [Fact]
    public void Truncated_or_foreign_mat_files_are_reported_with_their_path()
    {
        var dir = NewFolder();
        var bytes = MatWriter.Write([new MatWriter.Variable("kps", 2, 2, [1, 2, 3, 4])], compress: true);
        string truncated = Path.Combine(dir, "t.mat");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length - 10)]);
        Assert.Contains("t.mat", Assert.Throws<DatasetFormatException>(() => MatFile.Read(truncated)).Message);
        string text = Path.Combine(dir, "x.mat");
        File.WriteAllText(text, new string('x', 200));
        Assert.Contains("MATLAB", Assert.Throws<DatasetFormatException>(() => MatFile.Read(text)).Message);
    }

    private string PfPascalFixture()
    {
        var root = NewFolder();
        WriteImage(Path.Combine(root, "JPEGImages", "2008_000001.jpg"), seed: 1);
        WriteImage(Path.Combine(root, "JPEGImages", "2008_000002.jpg"), seed: 2);
        void Annotation(string name, double[] kpsColumnMajor, double[] box)
        {
            string path = Path.Combine(root, "Annotations", "cat", name + ".mat");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, MatWriter.Write([new("kps", kpsColumnMajor.Length / 2, 2, kpsColumnMajor), new("bbox", 1, 4, box)], compress: true));
        }
        Annotation("2008_000001", [10, 20, double.NaN, 11, 21, double.NaN], [5, 6, 60, 44]);
        Annotation("2008_000002", [12, double.NaN, 30, 13, double.NaN, 31], [2, 3, 58, 40]);
        File.WriteAllText(Path.Combine(root, "test_pairs.csv"),
            "source_image,target_image,class,flip\nPF-dataset-PASCAL/JPEGImages/2008_000001.jpg,PF-dataset-PASCAL/JPEGImages/2008_000002.jpg,8,0\n");
        return root;
    }

    [Fact]
    public void Pf_pascal_keeps_keypoints_visible_in_both_images()
    {
        var data = DatasetRegistry.Load("pfpascal", PfPascalFixture());
        var pair = Assert.Single(data.Pairs);
        Assert.Equal("cat", pair.Category);
        Assert.Equal(new[] { (10.0, 11.0) }, pair.SourcePoints.Select(p => (p.X, p.Y)));
        Assert.Equal(new[] { (12.0, 13.0) }, pair.TargetPoints.Select(p => (p.X, p.Y)));
        Assert.Equal(58 - 2, pair.TargetBox!.Value.X2 - pair.TargetBox.Value.X1);
        Assert.Equal(PckThreshold.Image, data.DefaultThreshold);
        Assert.True(File.Exists(pair.SourceImage));
    }

    [Fact]
    public void Pf_pascal_inline_variant_is_read()
    {
        var root = NewFolder();
        File.WriteAllText(Path.Combine(root, "test_pairs.csv"),
            "source_image,target_image,class,XA,YA,XB,YB\na/JPEGImages/x.jpg,a/JPEGImages/y.jpg,1,\"1;2;nan\",\"3;4;5\",\"6;7;8\",\"9;10;11\"\n");
        var pair = Assert.Single(PfPascalDataset.Load(root).Pairs);
        Assert.Equal("aeroplane", pair.Category);
        Assert.Equal(2, pair.SourcePoints.Count);
        Assert.Equal((7.0, 10.0), (pair.TargetPoints[1].X, pair.TargetPoints[1].Y));
    }

    [Fact]
    public void Malformed_csv_rows_name_the_file_and_line()
    {
        var root = NewFolder();
        File.WriteAllText(Path.Combine(root, "test_pairs.csv"), "source_image,target_image,class,flip\nc.jpg,d.jpg,99,0\n");
        var e = Assert.Throws<DatasetFormatException>(() => PfPascalDataset.Load(root));
        Assert.Contains("test_pairs.csv:2", e.Message);
        Assert.Contains("class id 99", e.Message);

        var willow = NewFolder();
        File.WriteAllText(Path.Combine(willow, "test_pairs.csv"), "imageA,imageB,XA1,YA1,XB1,YB1\nP/c/a.png,P/c/b.png,1,2,x,4\n");
        var w = Assert.Throws<DatasetFormatException>(() => PfWillowDataset.Load(willow));
        Assert.Contains("test_pairs.csv:2", w.Message);
        Assert.Contains("'x'", w.Message);
    }

    [Trait("Category", TestCategory.Data)]
    [SkippableFact]
    public void Pf_willow_reads_the_real_benchmark()
    {
        var data = PfWillowDataset.Load(SharedData.PfWillow);
        Assert.Equal(900, data.Pairs.Count);
        Assert.All(data.Pairs, p => Assert.Equal(10, p.SourcePoints.Count));
        Assert.Equal("car(G)", data.Pairs[0].Category);
        Assert.Equal(10, data.Pairs.Select(p => p.Category).Distinct().Count());
        Assert.Equal(200, PfWillowDataset.Load(SharedData.PfWillow, "val").Pairs.Count);
        Assert.True(File.Exists(data.Pairs[0].SourceImage));
    }

    [Trait("Category", TestCategory.Data)]
    [SkippableFact]
    public void Spair_reads_the_real_sample_with_difficulty_labels()
    {
        var data = DatasetRegistry.Load("spair", SharedData.SpairSample);
        Assert.Equal(2, data.Pairs.Count);
        var pair = data.Pairs.Single(p => p.Id.StartsWith("000271"));
        Assert.Equal("aeroplane", pair.Category);
        Assert.Equal(7, pair.SourcePoints.Count);
        Assert.Equal((480.0, 180.0), (pair.SourcePoints[0].X, pair.SourcePoints[0].Y));
        Assert.Equal(new Hyperpixels.Box(1, 25, 333, 494), pair.TargetBox);
        Assert.Equal(2, pair.Labels!["truncation"]);
        Assert.Equal(PckThreshold.BoundingBox, data.DefaultThreshold);
        var image = ImageLoader.Load(pair.TargetImage);
        Assert.Equal((333, 500), (image.Width, image.Height));
    }

    [Fact]
    public void Broken_spair_json_names_the_file()
    {
        var root = NewFolder();
        Directory.CreateDirectory(Path.Combine(root, "Layout", "large"));
        Directory.CreateDirectory(Path.Combine(root, "PairAnnotation", "test"));
        File.WriteAllText(Path.Combine(root, "Layout", "large", "test.txt"), "000001-a-b:cat\n");
        File.WriteAllText(Path.Combine(root, "PairAnnotation", "test", "000001-a-b:cat.json"), "{\"category\": \"cat\",\n \"src_kps\": [[1, 2]");
        var e = Assert.Throws<DatasetFormatException>(() => SpairDataset.Load(root));
        Assert.Contains("000001-a-b:cat.json", e.Message);
        Assert.Contains("broken JSON", e.Message);
    }

    [Fact]
    public void Caltech_reads_mask_polygons()
    {
        var root = NewFolder();
        WriteImage(Path.Combine(root, "101_ObjectCategories", "Faces", "image_0001.jpg"), seed: 3);
        WriteImage(Path.Combine(root, "101_ObjectCategories", "Faces", "image_0002.jpg"), seed: 4);
        File.WriteAllText(Path.Combine(root, "test_pairs_caltech_with_category.csv"),
            "source_image,target_image,class,XA,YA,XB,YB\n" +
            "Caltech101/101_ObjectCategories/Faces/image_0001.jpg,Caltech101/101_ObjectCategories/Faces/image_0002.jpg,1," +
            "\"10,50,50,10\",\"10,10,40,40\",\"12,52,52,12\",\"8,8,38,38\"\n");
        var data = DatasetRegistry.Load("caltech", root);
        var pair = Assert.Single(data.Pairs);
        Assert.Equal("Faces", pair.Category);
        Assert.Equal(4, pair.SourceMask!.Vertices.Count);
        Assert.True(File.Exists(pair.TargetImage));
    }

    [Fact]
    public void Mask_metrics_follow_their_definitions()
    {
        var square = new List<Flow.Point2> { new(0, 0), new(10, 0), new(10, 10), new(0, 10) };
        var shifted = square.Select(p => new Flow.Point2(p.X + 5, p.Y)).ToList();
        var a = Metrics.Rasterize(square, 20, 20);
        var b = Metrics.Rasterize(shifted, 20, 20);
        var (accuracy, iou) = Metrics.MaskAgreement(a, b);
        int inA = a.Count(x => x), inB = b.Count(x => x), both = a.Zip(b).Count(z => z.First && z.Second);
        Assert.Equal((double)both / (inA + inB - both), iou, 9);
        Assert.Equal(1 - (double)(inA + inB - 2 * both) / 400, accuracy, 9);
        Assert.InRange(iou, 0.25, 0.45);  // half-overlapping squares: 1/3 in the continuum
        Assert.Equal((1.0, 1.0), Metrics.MaskAgreement(a, a));
    }

    [Fact]
    public void Pck_counts_points_within_alpha_times_threshold_inclusive()
    {
        var truth = new List<Flow.Point2> { new(0, 0), new(10, 10), new(20, 20) };
        var predicted = new List<Flow.Point2> { new(3, 4), new(10, 16), new(20, 20) };   // distances 5, 6, 0
        Assert.Equal(2, Metrics.CorrectKeypoints(predicted, truth, thresholdPixels: 50, alpha: 0.1));
        Assert.Equal(3, Metrics.CorrectKeypoints(predicted, truth, 60, 0.1));
        var pair = new BenchmarkPair("0", "c", "s", "t", truth, truth, TargetBox: new Hyperpixels.Box(0, 0, 30, 80));
        Assert.Equal(20 * 0.5, Metrics.PckThresholdPixels(pair, PckThreshold.KeypointExtent, 100, 200, 0.5f), 6);
        Assert.Equal(80 * 0.5, Metrics.PckThresholdPixels(pair, PckThreshold.BoundingBox, 100, 200, 0.5f), 6);
        Assert.Equal(200 * 0.5, Metrics.PckThresholdPixels(pair, PckThreshold.Image, 100, 200, 0.5f), 6);
    }
}

public class DatasetRegistryTests
{
    [Fact]
    public void Every_benchmark_has_one_record_found_by_name_or_alias()
    {
        Assert.Equal(["pfwillow", "pfpascal", "spair", "caltech"], DatasetRegistry.Names);
        Assert.Same(PfWillowDataset.Spec, DatasetRegistry.Get("PF-WILLOW"));
        Assert.Same(SpairDataset.Spec, DatasetRegistry.Get("spair_71k"));
        Assert.Same(CaltechDataset.Spec, DatasetRegistry.Get("Caltech-101"));
        Assert.False(CaltechDataset.Spec.DefaultMarginPruning);                 // as in the paper's code
        Assert.All(DatasetRegistry.All.Where(s => s.Name != "caltech"), s => Assert.True(s.DefaultMarginPruning));
        Assert.Equal(PckThreshold.KeypointExtent, PfWillowDataset.Spec.DefaultThreshold);
        Assert.Equal(DatasetRegistry.Names, DatasetDownloader.Known.Select(k => k.Name));
        Assert.Contains("known: pfwillow, pfpascal, spair, caltech", Assert.Throws<HyperpixelFlowException>(() => DatasetRegistry.Get("imagenet")).Message);
    }
}

public class HeldOutPairsTests
{
    [SkippableFact]
    public void Leaving_out_val_images_keeps_only_pairs_of_images_val_never_shows()
    {
        var test = PfWillowDataset.Load(SharedData.PfWillow, "test");
        var val = PfWillowDataset.Load(SharedData.PfWillow, "val");
        var valImages = val.Pairs.SelectMany(p => new[] { p.SourceImage, p.TargetImage }).ToHashSet();
        // The standard test list holds val's pairs: the reason for the filter.
        Assert.Contains(test.Pairs, p => valImages.Contains(p.SourceImage) && valImages.Contains(p.TargetImage));

        var unseen = test.WithoutImagesOf(val);
        var expected = test.Pairs.Where(p => !valImages.Contains(p.SourceImage) && !valImages.Contains(p.TargetImage)).Select(p => p.Id).ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, unseen.Pairs.Select(p => p.Id));
        Assert.Equal("test-without-val-images", unseen.Split);
        Assert.NotEqual(Evaluation.Hashing.OfPairs(test), Evaluation.Hashing.OfPairs(unseen));

        Assert.Contains("no pair is left", Assert.Throws<HyperpixelFlowException>(() => val.WithoutImagesOf(test)).Message);
        var other = test with { Name = "spair" };
        Assert.Contains("another dataset", Assert.Throws<HyperpixelFlowException>(() => test.WithoutImagesOf(other)).Message);
    }
}
