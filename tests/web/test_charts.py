from coedit.web.charts import bar_chart, nice_top


def test_nice_top_rounds_up_to_1_2_5():
    assert [nice_top(v) for v in (0, 0.5, 1, 3, 17, 20, 49, 51, 999, 1001)] == [
        1, 1, 1, 5, 20, 20, 50, 100, 1000, 2000]


def test_bars_scale_to_the_top_and_fill_the_width():
    chart = bar_chart([("10:00", 0), ("10:01", 5), ("10:02", 10)], width=300, height=100)
    assert chart.top == 10
    assert [b.height for b in chart.bars] == [0, 50, 100]
    assert [b.y for b in chart.bars] == [100, 50, 0]
    assert chart.bars[-1].x + chart.bars[-1].width <= 300
    assert (chart.first, chart.last) == ("10:00", "10:02")


def test_no_points_is_an_empty_chart():
    chart = bar_chart([])
    assert chart.bars == [] and chart.top == 1


def test_the_peak_is_the_tallest_bar_not_the_scale():
    chart = bar_chart([("10:00", 1), ("10:01", 3)])
    assert chart.peak == 3 and chart.top == 5  # "peak 5 active agents" of three was the scale
