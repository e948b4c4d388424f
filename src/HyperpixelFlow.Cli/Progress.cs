using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>A progress bar with the rate and the time left, for work that reports (done, to do).</summary>
internal static class Progress
{
    public static T Run<T>(string description, string unit, Func<Action<int, int>, T> work)
    {
        T result = default!;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn(unit),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(description), maxValue: 1);
                result = work((done, total) =>
                {
                    task.MaxValue = Math.Max(total, 1);
                    task.Value = done;
                });
            });
        return result;
    }

    /// <summary>Items per second (Spectre's own speed column formats bytes).</summary>
    private sealed class RateColumn(string unit) : ProgressColumn
    {
        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Markup(task.Speed is double speed ? $"{speed:0.00} {unit}/s" : "-");
    }
}
