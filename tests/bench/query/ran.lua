-- ran.lua - wrk script: GET /api/v1/ran for a random known commit.
-- The commits come from the file named by $COMMITS (one 40-hex hash a line).
local commits = {}
for line in io.lines(os.getenv("COMMITS")) do
	commits[#commits + 1] = line
end

local thread_no = 0
function setup(thread)
	thread_no = thread_no + 1
	thread:set("seed", thread_no)
end

function init(args)
	math.randomseed(os.time() + (seed or 0))
end

function request()
	return wrk.format("GET", "/api/v1/ran?commit=" .. commits[math.random(#commits)])
end
