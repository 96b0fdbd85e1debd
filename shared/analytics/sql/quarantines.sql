-- Why uploads were refused.
SELECT label AS reason, COUNT(*) AS uploads
FROM events
WHERE {range} AND kind = 'quarantine'
GROUP BY label
ORDER BY uploads DESC, reason
