-- One row per reviewed product: how many reviews, how they rate, the share of each sentiment
-- (from the ratings: 4-5 positive, 3 neutral, 1-2 negative) and the trend of the rating.
-- rating_trend_per_30d is the least-squares slope of the rating against created_at, in stars
-- per 30 days, over the product's dated reviews. It is null when the reviews carry no dates
-- (the clothing file has none), when fewer than 3 are dated, or when they share one instant.
-- stats_as_of is the instant every row's statistics hold at (the Feast export's snapshot_at):
-- the day after the last dated review, or when the last review was loaded if none is dated.

with

reviews as (

    select * from {{ ref('review_facts') }}

),

categories_ranked as (

    -- a product's category is the one most of its reviews name (alphabetical on a tie)
    select
        product_id,
        category,
        department,
        row_number() over (
            partition by product_id
            order by count(*) desc, category, department
        ) as category_rank
    from reviews
    where category is not null
    group by product_id, category, department

),

stats as (

    select
        product_id,
        count(*) as n_reviews,
        avg(rating) as mean_rating,
        count(*) filter (where sentiment_label = 'positive') as n_positive,
        count(*) filter (where sentiment_label = 'neutral') as n_neutral,
        count(*) filter (where sentiment_label = 'negative') as n_negative,
        avg(case when recommended then 1.0 when not recommended then 0.0 end)
            as recommended_share,
        count(created_at) as n_dated_reviews,
        min(created_at) as first_review_at,
        max(created_at) as last_review_at,
        max(loaded_at) as last_loaded_at,
        regr_slope(rating, epoch(created_at) / 86400.0) * 30 as rating_slope_per_30d
    from reviews
    group by product_id

),

final as (

    select
        ---------- ids
        stats.product_id,

        ---------- the product
        categories_ranked.category,
        categories_ranked.department,

        ---------- counts and ratings
        cast(stats.n_reviews as bigint) as n_reviews,
        stats.mean_rating,
        cast(stats.n_positive as bigint) as n_positive,
        cast(stats.n_neutral as bigint) as n_neutral,
        cast(stats.n_negative as bigint) as n_negative,
        stats.n_positive / stats.n_reviews as positive_share,
        stats.n_neutral / stats.n_reviews as neutral_share,
        stats.n_negative / stats.n_reviews as negative_share,
        stats.recommended_share,

        ---------- trend
        cast(stats.n_dated_reviews as bigint) as n_dated_reviews,
        case
            when stats.n_dated_reviews >= 3 and stats.last_review_at > stats.first_review_at
                then stats.rating_slope_per_30d
        end as rating_trend_per_30d,

        ---------- timestamps
        stats.first_review_at,
        stats.last_review_at,
        coalesce(
            date_trunc('day', max(stats.last_review_at) over ()) + interval 1 day,
            max(stats.last_loaded_at) over ()
        ) as stats_as_of

    from stats
    left join categories_ranked
        on stats.product_id = categories_ranked.product_id
        and categories_ranked.category_rank = 1

)

select * from final
