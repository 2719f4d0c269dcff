package metagraph

// SetPageSize lets tests page through short lists (Graph's limit).
func SetPageSize(c *Client, n int) { c.pageSize = n }
