/** A cursor-paged list of the API (`{data, hasMore, nextCursor}`) as one growing list of rows, with "show more". */
import { useInfiniteQuery, type QueryKey } from '@tanstack/react-query';

interface Page<T> { data: T[]; hasMore: boolean; nextCursor?: string | null }

export function usePagedList<T>(queryKey: QueryKey, fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {
  const list = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.hasMore && last.nextCursor ? last.nextCursor : undefined),
  });
  return { list, rows: list.data?.pages.flatMap((p) => p.data) ?? [] };
}
