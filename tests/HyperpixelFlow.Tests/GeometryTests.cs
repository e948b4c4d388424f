using HyperpixelFlow.Backbones;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Hyperpixels;

namespace HyperpixelFlow.Tests;

public class GeometryTests
{
    [Fact]
    public void Boxes_follow_jump_and_half_receptive_field()
    {
        var grid = HyperpixelGrid.Create(stride: 4, receptiveField: 43, fullWidth: 10, fullHeight: 8, imageWidth: 40, imageHeight: 32, prune: false, tolerance: 4);
        Assert.Equal(80, grid.Count);
        Assert.Equal(new Box(-21, -21, 21, 21), grid.BoxAt(0));
        Assert.Equal(new Box(3 * 4 - 21, 2 * 4 - 21, 3 * 4 + 21, 2 * 4 + 21), grid.BoxAt(2 * 10 + 3));
        Assert.Equal(12, grid.Center(3));
        Assert.Equal(8, grid.Center(2));
    }

    [Fact]
    public void Margin_pruning_keeps_boxes_within_one_jump_of_the_image()
    {
        // 300 x 200 image, jump 4, field 43: x1 = 4x - 21 >= -4 -> x >= 5; x2 = 4x + 21 < 304 -> x <= 70.
        var grid = HyperpixelGrid.Create(4, 43, 75, 50, 300, 200, prune: true, tolerance: 4);
        Assert.Equal((5, 66), (grid.X0, grid.Width));
        Assert.Equal((5, 41), (grid.Y0, grid.Height));
        Assert.Equal(2706, grid.Count);
        Assert.Equal(new Box(-1, -1, 41, 41), grid.BoxAt(0));
        Assert.Equal(new Box(259, 159, 301, 201), grid.BoxAt(grid.Count - 1));
    }

    [Fact]
    public void Pruning_that_would_empty_an_axis_keeps_that_axis_whole()
    {
        var grid = HyperpixelGrid.Create(4, 43, 8, 8, 32, 32, prune: true, tolerance: 4);
        Assert.Equal(64, grid.Count);
        Assert.Equal((0, 0), (grid.X0, grid.Y0));
    }

    [Fact]
    public void A_grid_with_an_origin_centres_its_boxes_there_and_transfer_and_pruning_follow()
    {
        // ViT patches: stride 14, box 28, cell 0 centred at pixel 7; a 59 x 14 image (4 patches after padding by 3).
        var grid = HyperpixelGrid.Create(14, 28, fullWidth: 5, fullHeight: 1, imageWidth: 59, imageHeight: 14, prune: true, tolerance: 14, origin: 7);
        Assert.Equal((0, 4), (grid.X0, grid.Width));   // cell 4 (box 49..77) leaves the image by more than 14: pruned
        Assert.Equal(new Box(-7, -7, 21, 21), grid.BoxAt(0));
        Assert.Equal((7, 21), (grid.Center(0), grid.Center(1)));
        Assert.Equal(1, grid.NearestCell(15.0));
        // Cells 0 and 3 stay, cell 1 moves 28 px, cell 2 14 px. x = 3 is covered by cell 0 alone (|7 - 3| <= 14 < |21 - 3|),
        // so it stays (without the origin cells 0 and 1 would cover it and move it 14 px); x = 23 by cells 1 and 2: +21.
        var field = new DisplacementField(grid, grid, [0, 3, 3, 3]);
        Assert.Equal(new Point2(3, 7), field.Transfer(new Point2(3, 7)));
        Assert.Equal(new Point2(44, 7), field.Transfer(new Point2(23, 7)));
    }

    [Fact]
    public void Candidate_table_of_the_default_backbone_matches_the_paper()
    {
        var table = ResNetBackbone.ComputeCandidateGeometry(BackboneRegistry.Get("resnet18-cntk").Architecture);
        Assert.Equal(new[] { 4, 4, 4, 8, 8, 16, 16, 32, 32, 32 }, table.Select(c => c.Jump));
        Assert.Equal(new[] { 11, 27, 43, 67, 99, 147, 211, 307, 435, 563 }, table.Select(c => c.ReceptiveField));
    }

    [Fact]
    public void Candidate_table_of_bottleneck_resnets_matches_the_paper_for_the_first_ten_ids()
    {
        foreach (var name in new[] { "resnet50", "resnet101", "fcn101" })
        {
            var table = ResNetBackbone.ComputeCandidateGeometry(BackboneRegistry.Get(name).Architecture);
            Assert.Equal(new[] { 4, 4, 4, 4, 8, 8, 8, 8, 16, 16 }.Take(name == "fcn101" ? 8 : 10), table.Take(name == "fcn101" ? 8 : 10).Select(c => c.Jump));
            Assert.Equal(new[] { 11, 19, 27, 35, 43, 59, 75, 91, 107, 139 }.Take(name == "fcn101" ? 8 : 10),
                table.Take(name == "fcn101" ? 8 : 10).Select(c => c.ReceptiveField));
        }
        // stem + one id per bottleneck: R50 has 3+4+6+3 = 16 blocks (ids 0..16), R101 3+4+23+3 = 33 (ids 0..33)
        Assert.Equal(17, ResNetBackbone.ComputeCandidateGeometry(BackboneRegistry.Get("resnet50").Architecture).Count);
        Assert.Equal(34, ResNetBackbone.ComputeCandidateGeometry(BackboneRegistry.Get("resnet101").Architecture).Count);
        // FCN keeps stride 8 from stage 3 on (dilation instead of stride).
        Assert.Equal(8, ResNetBackbone.ComputeCandidateGeometry(BackboneRegistry.Get("fcn101").Architecture)[^1].Jump);
    }

    [Fact]
    public void A_coarser_hyperpixel_stride_samples_the_finer_layers_at_the_grid_cells()
    {
        var spec = BackboneRegistry.Get("resnet18-cntk");
        using var backbone = new ResNetBackbone(spec.Name, new ResNet(spec.Architecture), spec.Preprocessing, spec.DefaultLayers, TorchSharp.torch.CPU);
        int[] layers = [2, 4, 5, 6, 7];
        using var scope = TorchSharp.torch.NewDisposeScope();
        var features = backbone.Extract(TorchSharp.torch.rand(1, 3, 225, 300), layers);   // maps 57x75, 29x38, 15x19 (x2), 8x10

        using var paper = HyperpixelBuilder.Build(features, layers, backbone, 300, 225, marginPruning: true);
        using var fast = HyperpixelBuilder.Build(features, layers, backbone, 300, 225, marginPruning: true, hyperpixelStride: 8);
        Assert.Equal((4, 43, 75, 57), (paper.Grid.Stride, paper.Grid.ReceptiveField, paper.Grid.FullWidth, paper.Grid.FullHeight));
        // The grid moves to layer 4's map; boxes keep layer 2's receptive field.
        Assert.Equal((8, 43, 38, 29), (fast.Grid.Stride, fast.Grid.ReceptiveField, fast.Grid.FullWidth, fast.Grid.FullHeight));
        Assert.Equal(new long[] { 64 + 128, 512, 512 }, fast.Groups.Select(g => g.shape[0]));
        Assert.Equal(paper.Channels, fast.Channels);
        // align_corners resizing of 57x75 to 29x38 lands exactly on every other cell of layer 2, then layer 4 follows.
        Assert.True(TorchSharp.torch.allclose(fast.Groups[0][..64], features[0][0].slice(1, 0, 57, 2).slice(2, 0, 75, 2), rtol: 0, atol: 0), "layer 2 sampled at the grid cells");
        Assert.True(TorchSharp.torch.allclose(fast.Groups[0][64..], features[1][0], rtol: 0, atol: 0), "layer 4 unchanged");
        Assert.True(fast.Grid.Count * 3 < paper.Grid.Count, $"{fast.Grid.Count} vs {paper.Grid.Count} hyperpixels");

        // A stride between the layers' takes the next coarser layer; one coarser than every layer is refused.
        using var between = HyperpixelBuilder.Build(features, layers, backbone, 300, 225, marginPruning: true, hyperpixelStride: 5);
        Assert.Equal((8, fast.Grid.Count), (between.Grid.Stride, between.Grid.Count));
        var wrong = Assert.Throws<HyperpixelFlowException>(() =>
            HyperpixelBuilder.Build(features, layers, backbone, 300, 225, marginPruning: true, hyperpixelStride: 64));
        Assert.Contains("strides are 4,8,16,32", wrong.Message);
        Assert.Throws<HyperpixelFlowException>(() => new HyperpixelFlowOptions { Hyperpixels = new() { Stride = -8 } }.Validate());
        Assert.Throws<HyperpixelFlowException>(() => new HyperpixelFlowOptions { Hyperpixels = new() { TargetStride = -8 } }.Validate());
    }
}
